// The `pipeline` command line: engine verbs plus the study's own commands.
//
// Exit codes: 0 ok; 1 a stage failed, or verify found damage; 2 bad input (nothing ran): config
// or usage error, or a cache that cannot be used as it is; 3 the cache is in use and --no-wait
// was given; 130 interrupted.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Table } from './arrow.js';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { CacheBusyError } from '../cache/lock.js';
import { CacheError } from '../cache/store.js';
import { openCache, resolveCacheDir, type Cache } from './cache-handle.js';
import { ConfigError, DEFAULT_CONFIG, loadPipeline, refsOf, type Pipeline } from './config.js';
import { configMemoIn } from './config-memo.js';
import { planPipeline, runPipeline, SelectionError, type ExecutionSummary, type RunSummary } from './engine.js';
import { canonicalJson } from './hashing.js';
import { HistorySchemaError, type History, type RunRecord } from './history.js';
import { collectGarbage, setHistoryAside, verifyCache } from './maintenance.js';
import { formatDuration, reporterFor, type TerminalSink, type TextSink } from './progress.js';
import { commandLine, setOptions } from './shell.js';
import { usesAllCores, type AnyStage } from './stage.js';
import { StaleInstanceError, Workspace } from './workspace.js';
import { pyarrowSnippet } from './python-snippet.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, busy: 3, interrupted: 130 } as const;

export interface CliSetup {
  readonly stages: readonly AnyStage[];
  readonly commands: readonly CommandModule[];
  readonly stdout?: TextSink;
  readonly stderr?: TerminalSink;
}

/** An error whose message is for the user as is, with the exit code to use. */
class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

interface CommonArgs {
  'cache-dir'?: string;
  json?: boolean;
}
interface ConfigArgs extends CommonArgs {
  config: string;
  set?: string[];
}

/** A whole-number option as the user typed it (yargs' number type would turn `abc` into NaN). */
function wholeNumber(option: string, value: unknown, least: number): number {
  if (!/^\d+$/.test(String(value)) || Number(value) < least) throw new UserError(`--${option} ${String(value)}: expected a whole number of at least ${least}`, EXIT.usage);
  return Number(value);
}

function printTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]!.length))) ?? [];
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd()).join('\n');
}

/** One node per stage instance, or with `collapse` one per stage declaration (its matrix instances together). */
interface DagNode {
  readonly name: string;
  readonly stage: string;
  readonly allCores: boolean;
  readonly instances: number;
  /** Matrix variables of a collapsed declaration. */
  readonly variables: readonly string[];
  /** Input name -> the `node.output` references bound to it. */
  readonly inputs: ReadonlyMap<string, readonly string[]>;
}
interface DagEdge {
  readonly from: string;
  readonly to: string;
  /** `output -> input`, one per binding between the two nodes. */
  readonly labels: readonly string[];
}

function dagModel(pipeline: Pipeline, collapse: boolean): { nodes: DagNode[]; edges: DagEdge[] } {
  const nodeOf = (instanceName: string) => (collapse ? pipeline.byName.get(instanceName)!.declaration : instanceName);
  const nodes = new Map<string, { stage: string; allCores: boolean; instances: number; variables: Set<string>; inputs: Map<string, Set<string>> }>();
  const edges = new Map<string, { from: string; to: string; labels: Set<string> }>();
  for (const instance of pipeline.instances) {
    const name = nodeOf(instance.name);
    const node = nodes.get(name) ?? { stage: instance.stage.name, allCores: false, instances: 0, variables: new Set<string>(), inputs: new Map<string, Set<string>>() };
    nodes.set(name, node);
    node.instances += 1;
    node.allCores ||= usesAllCores(instance.stage, instance.params);
    const matrix = instance.name.split('@')[1];
    if (collapse && matrix) for (const assignment of matrix.split(',')) node.variables.add(assignment.split('=')[0]!);
    for (const [input, binding] of Object.entries(instance.inputs)) {
      if (binding.outside) node.inputs.set(input, new Set([`outside ${binding.outside.written}`]));
      for (const ref of refsOf(binding)) {
        const from = nodeOf(ref.instance);
        const references = node.inputs.get(input) ?? new Set<string>();
        node.inputs.set(input, references.add(`${from}.${ref.output}`));
        const edge = edges.get(`${from}\0${name}`) ?? { from, to: name, labels: new Set<string>() };
        edges.set(`${from}\0${name}`, edge);
        edge.labels.add(`${ref.output} -> ${input}`);
      }
    }
  }
  return {
    nodes: [...nodes].map(([name, node]) => ({ name, ...node, variables: [...node.variables], inputs: new Map([...node.inputs].map(([input, refs]) => [input, [...refs]])) })),
    edges: [...edges.values()].map((edge) => ({ ...edge, labels: [...edge.labels] })),
  };
}

function dagText(pipeline: Pipeline, format: 'text' | 'mermaid' | 'dot', collapse: boolean): string {
  const { nodes, edges } = dagModel(pipeline, collapse);
  const count = (node: DagNode) => (collapse && node.instances > 1 ? `${node.instances} instances` : '');
  if (format === 'dot') {
    // A DOT string: quotes and backslashes escaped; \n is a line break in a label.
    const quote = (text: string) => `"${text.replace(/["\\]/g, '\\$&').replace(/\n/g, '\\n')}"`;
    return [
      'digraph pipeline {',
      '  rankdir=LR;',
      ...nodes.map((node) => `  ${quote(node.name)} [shape=box, label=${quote([node.name, `(${node.stage})`, count(node)].filter(Boolean).join('\n'))}];`),
      ...edges.map((edge) => `  ${quote(edge.from)} -> ${quote(edge.to)} [label=${quote(edge.labels.join('\n'))}];`),
      '}',
    ].join('\n');
  }
  if (format === 'mermaid') {
    const ids = new Map(nodes.map((node, index) => [node.name, `s${index}`]));
    const escape = (text: string) => text.replace(/"/g, '#quot;');
    return [
      'graph LR',
      ...nodes.map((node) => `  ${ids.get(node.name)}["${[escape(node.name), `(${node.stage})`, count(node)].filter(Boolean).join('<br/>')}"]`),
      ...edges.map((edge) => `  ${ids.get(edge.from)} -->|"${edge.labels.map(escape).join('<br/>')}"| ${ids.get(edge.to)}`),
    ].join('\n');
  }
  return nodes
    .map((node) => {
      const details = [node.stage, ...(node.allCores ? ['all cores'] : []), ...(count(node) ? [`${count(node)} over ${node.variables.join(', ')}`] : [])];
      return [`${node.name} (${details.join(', ')})`, ...[...node.inputs].map(([input, refs]) => `    ${input} <- ${refs.join(', ')}`)].join('\n');
    })
    .join('\n');
}

/** The package's version, from the package.json above this file (two levels up once compiled to dist/). */
function packageVersion(): string {
  for (let folder = import.meta.dirname; ; folder = dirname(folder)) {
    const file = join(folder, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    if (dirname(folder) === folder) return 'unknown';
  }
}

/**
 * A reader that closes the pipe (`pipeline history | head -1`) ends the output, not the command:
 * the write error is ignored, the rest of the output is dropped, and the exit code is the command's.
 */
function ignoreClosedPipe(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE') throw error;
}
function tolerateClosedPipe(stream: NodeJS.WriteStream): void {
  if (!stream.listeners('error').includes(ignoreClosedPipe)) stream.on('error', ignoreClosedPipe);
}

/** The run's one-line summary, then a line per failed or interrupted stage, and one for all the skipped ones. */
function runSummaryLines(summary: RunSummary): string[] {
  const withStatus = (...statuses: ExecutionSummary['status'][]) => summary.executions.filter((execution) => statuses.includes(execution.status));
  const unfinished = withStatus('failed', 'interrupted');
  const skipped = withStatus('skipped').length;
  const lines = [
    `run ${summary.runId} ${summary.status}: ${withStatus('succeeded').length} ran, ${withStatus('cached').length} cached, ${unfinished.length} failed, ${skipped} skipped`,
    ...unfinished.map((execution) => `  ${execution.status} ${execution.instance}: ${execution.error ?? ''}`),
  ];
  // Without an interruption a stage is skipped only because something it reads failed.
  if (skipped > 0) {
    lines.push(`  ${skipped} skipped: ${summary.status === 'interrupted' ? 'the run was interrupted before they started' : `upstream did not complete (failed: ${unfinished.map((execution) => execution.instance).join(', ')})`}`);
  }
  return lines;
}

function describeRunSetup(run: RunRecord): string {
  return commandLine([run.config, ...setOptions(run.overrides)]);
}

function describeCommit(run: RunRecord): string {
  return run.gitCommit === null ? '-' : `${run.gitCommit.slice(0, 8)}${run.gitDirty ? '-dirty' : ''}`;
}

/** Runs that computed nothing (every stage reused) with the same config, overrides and commit, when consecutive, share one line. */
function historyLines(runs: readonly RunRecord[]): string[][] {
  const isNoOp = (run: RunRecord) => run.status === 'succeeded' && run.executed === 0 && run.failed === 0 && run.skipped === 0;
  const setup = (run: RunRecord) => `${describeRunSetup(run)} ${describeCommit(run)}`;
  const groups: RunRecord[][] = [];
  for (const run of runs) {
    const last = groups.at(-1);
    if (last && isNoOp(run) && isNoOp(last[0]!) && setup(run) === setup(last[0]!)) last.push(run);
    else groups.push([run]);
  }
  const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  return groups.map((group) => {
    const [newest, oldest] = [group[0]!, group.at(-1)!];
    const folded = group.length > 1;
    return [
      folded ? `${oldest.id}..${newest.id}` : String(newest.id),
      when(newest.startedAtMs),
      folded || newest.finishedAtMs === null ? '-' : formatDuration(newest.finishedAtMs - newest.startedAtMs),
      folded ? `no-op x${group.length}` : newest.status,
      String(newest.executed),
      String(newest.cached),
      String(newest.failed),
      String(newest.skipped),
      describeCommit(newest),
      describeRunSetup(newest),
    ];
  });
}

interface ComparedField {
  readonly instance: string;
  readonly kind: 'param' | 'metric';
  readonly name: string;
  readonly a: unknown;
  readonly b: unknown;
  /** b - a when both are numbers. */
  readonly change: number | null;
  readonly changed: boolean;
}

/** Params and metrics of every stage instance two runs used (computed or reused), field by field. */
function compareRuns(history: History, runA: number, runB: number): ComparedField[] {
  const fieldsOf = (runId: number) => {
    const fields = new Map<string, Map<string, { kind: 'param' | 'metric'; name: string; value: unknown }>>();
    const of = (instance: string) => fields.get(instance) ?? fields.set(instance, new Map()).get(instance)!;
    for (const execution of history.executionsOf(runId).filter((candidate) => candidate.status === 'succeeded' || candidate.status === 'cached')) {
      for (const [name, value] of Object.entries(execution.params)) of(execution.instance).set(`param ${name}`, { kind: 'param', name, value });
    }
    for (const metric of history.runMetrics(runId)) {
      // A stage's `metrics` output is the usual one: its entries go by their own names.
      const name = metric.output === 'metrics' ? metric.name : `${metric.output}.${metric.name}`;
      of(metric.instance).set(`metric ${name}`, { kind: 'metric', name, value: metric.value });
    }
    return fields;
  };
  const [fieldsA, fieldsB] = [fieldsOf(runA), fieldsOf(runB)];
  const instances = [...new Set([...fieldsB.keys(), ...fieldsA.keys()])];
  return instances.flatMap((instance) => {
    const [a, b] = [fieldsA.get(instance) ?? new Map(), fieldsB.get(instance) ?? new Map()];
    const keys = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (x.startsWith('param') === y.startsWith('param') ? x.localeCompare(y) : x.startsWith('param') ? -1 : 1));
    return keys.map((key) => {
      const [fieldA, fieldB] = [a.get(key), b.get(key)];
      const field = (fieldA ?? fieldB)!;
      const [valueA, valueB] = [fieldA?.value, fieldB?.value];
      return {
        instance,
        kind: field.kind,
        name: field.name,
        a: valueA,
        b: valueB,
        change: typeof valueA === 'number' && typeof valueB === 'number' ? valueB - valueA : null,
        changed: canonicalJson(valueA) !== canonicalJson(valueB),
      };
    });
  });
}

/** Integers as they are, other numbers with `precision` decimals; `signed` puts + before a positive change. */
function formatValue(value: unknown, precision: number, signed = false): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'number') {
    const text = Number.isInteger(value) ? String(value) : value.toFixed(precision);
    return signed && value > 0 ? `+${text}` : text;
  }
  return typeof value === 'string' && value !== '' ? value : JSON.stringify(value);
}

async function summarizeArtifact(workspace: Workspace, instance: string, output: string): Promise<Record<string, unknown>> {
  const info = workspace.artifact(instance, output);
  const value = await workspace.load(instance, output);
  const base = { output, kind: info.kind, path: info.path, size: info.size, sha256: info.sha256 };
  switch (info.kind) {
    case 'table': {
      const table = value as Table;
      return {
        ...base,
        rows: table.numRows,
        columns: table.schema.fields.map((field) => `${field.name}: ${String(field.type)}`),
        metadata: Object.fromEntries(table.schema.metadata),
        python: pyarrowSnippet(info.path, table),
      };
    }
    case 'metrics':
      return { ...base, metrics: value };
    case 'json': {
      const text = JSON.stringify(value);
      return { ...base, preview: text.length > 300 ? `${text.slice(0, 300)}...` : text };
    }
    case 'blob':
      return { ...base, extension: (value as { extension: string }).extension };
  }
}

/**
 * yargs formats a command's whole help text before running its handler, in case the handler fails
 * later and the help is to be shown with the error: string widths of every line, some 30-50 ms of
 * a run that reuses everything. This CLI's `.fail()` prints the error alone, and `--help` formats
 * the text anew, so the early copy is never read. (Angular's CLI turns it off the same way.)
 */
function skipEagerHelpText(parser: Argv): void {
  const internals = parser as unknown as { getInternalMethods(): { getUsageInstance(): { cacheHelpMessage(): void } } };
  internals.getInternalMethods().getUsageInstance().cacheHelpMessage = () => {};
}

/** Builds and runs the CLI; resolves to the process exit code. */
export async function runCli(argv: readonly string[], setup: CliSetup): Promise<number> {
  if (!setup.stdout) tolerateClosedPipe(process.stdout);
  if (!setup.stderr) tolerateClosedPipe(process.stderr);
  const stdout: TextSink = setup.stdout ?? process.stdout;
  const stderr = setup.stderr ?? process.stderr;
  const print = (text: string) => stdout.write(`${text}\n`);
  let exitCode: number = EXIT.ok;

  /** Only `write` creates a cache; reading a missing one sees an empty cache. */
  const withCache = async <T>(args: CommonArgs, work: (cache: Cache) => Promise<T>, mode: 'read' | 'write' = 'read'): Promise<T> => {
    const cache = openCache(resolveCacheDir(args['cache-dir']), mode);
    try {
      return await work(cache);
    } catch (error) {
      throw cache.history.explainDamage(error);
    } finally {
      cache.close();
    }
  };
  const configOptions = <T>(parser: Argv<T>) =>
    parser
      .positional('config', { type: 'string', default: DEFAULT_CONFIG, describe: 'pipeline config (YAML)' })
      .option('set', { type: 'string', array: true, describe: 'override a param: name=value (global) or stage.param=value' });
  const jsonOption = { json: { type: 'boolean', default: false, describe: 'print JSON for scripts' } } as const;
  const waitOption = { wait: { type: 'boolean', default: true, describe: 'wait for another run using the cache (--no-wait: exit 3 instead)' } } as const;
  const loadConfig = (args: ConfigArgs) => loadPipeline(args.config, setup.stages, args.set ?? [], configMemoIn(resolveCacheDir(args['cache-dir'])));

  const parser = yargs([...argv])
    .scriptName('pipeline')
    .usage('$0 <command> [options]\n\nContent-hashed, cached research pipelines. Start with: $0 run configs/cifar.yaml')
    .option('cache-dir', { type: 'string', describe: 'cache directory (default: $PASSEURS_CACHE, else .passeurs)' })
    .command(
      'run [config]',
      'run the stale stages of a config (fresh ones are reused)',
      (command) =>
        configOptions(command)
          .options({
            only: { type: 'string', array: true, describe: 'run only these instances (name, stage name, or glob) and what they need' },
            force: { type: 'string', array: true, describe: "rerun these instances even if fresh (name, stage name, or glob; '*': all)" },
            'dry-run': { type: 'boolean', default: false, describe: 'show what would run, run nothing' },
            jobs: { requiresArg: true, describe: 'stages run at once (default: number of cores)' },
            ...waitOption,
            ...jsonOption,
          })
          .example('$0 run configs/smoke.yaml', 'the whole study on 100 images per class')
          .example('$0 run configs/cifar.yaml --only baseline --set solver=dual-cd', 'one stage and what it needs, with a param overridden')
          .example("$0 run configs/smoke.yaml --force 'refit*' --dry-run", 'what rerunning every refit would run'),
      async (args) => {
        const jobs = args.jobs === undefined ? undefined : wholeNumber('jobs', args.jobs, 1);
        if (args.force?.length === 0) throw new UserError("--force needs what to rerun: --force NAME (an instance, a stage name or a glob); --force '*' reruns everything", EXIT.usage);
        if (args.only?.length === 0) throw new UserError('--only needs what to run: --only NAME (an instance, a stage name or a glob)', EXIT.usage);
        const pipeline = loadConfig(args);
        await withCache(args, async (cache) => {
          if (args['dry-run']) {
            const plan = planPipeline(cache, pipeline, { only: args.only ?? [], force: args.force ?? [] });
            const entries = [...plan].map(([instance, freshness]) => ({ instance, ...freshness }));
            if (args.json) return print(JSON.stringify(entries, null, 2));
            const stale = entries.filter((entry) => entry.state === 'stale');
            print(`dry run: ${stale.length} of ${entries.length} would run`);
            print(printTable(stale.map((entry) => ['run', entry.instance, entry.state === 'stale' ? entry.reasons.join('; ') : ''])));
            return;
          }
          const controller = new AbortController();
          const interrupt = () => controller.abort();
          process.once('SIGINT', interrupt);
          process.once('SIGTERM', interrupt);
          try {
            const summary = await runPipeline(cache, pipeline, {
              only: args.only ?? [],
              force: args.force ?? [],
              ...(jobs === undefined ? {} : { jobs }),
              wait: args.wait,
              signal: controller.signal,
              reporter: reporterFor(stderr),
              command: commandLine(['pipeline', ...argv]),
            });
            print(args.json ? JSON.stringify(summary, null, 2) : runSummaryLines(summary).join('\n'));
            exitCode = summary.status === 'succeeded' ? EXIT.ok : summary.status === 'interrupted' ? EXIT.interrupted : EXIT.failed;
          } finally {
            process.off('SIGINT', interrupt);
            process.off('SIGTERM', interrupt);
          }
        }, args['dry-run'] ? 'read' : 'write');
      },
    )
    .command(
      'status [config]',
      'each stage instance: fresh or stale, and why',
      (command) =>
        configOptions(command)
          .options(jsonOption)
          .example('$0 status configs/smoke.yaml', 'what a run would reuse and what it would recompute')
          .example('$0 status configs/smoke.yaml --set ks=[1,2,3,4]', 'the same with an override'),
      async (args) => {
        const pipeline = loadConfig(args);
        await withCache(args, async (cache) => {
          const entries = [...planPipeline(cache, pipeline)].map(([instance, freshness]) => ({ instance, ...freshness }));
          if (args.json) return print(JSON.stringify(entries, null, 2));
          print(printTable(entries.map((entry) => [entry.state, entry.instance, entry.state === 'stale' ? entry.reasons.join('; ') : ''])));
          const stale = entries.filter((entry) => entry.state === 'stale').length;
          print(stale === 0 ? `all ${entries.length} fresh` : `${entries.length - stale} fresh, ${stale} stale`);
        });
      },
    )
    .command(
      'dag [config]',
      'the stage graph, as text, Mermaid or Graphviz dot',
      (command) =>
        configOptions(command)
          .options({
            format: { choices: ['text', 'mermaid', 'dot'] as const, default: 'text' as const, describe: 'output format' },
            collapse: { type: 'boolean', default: false, describe: 'one node per stage declaration, its matrix instances together' },
          })
          .example('$0 dag configs/smoke.yaml --collapse', 'one line per declared stage')
          .example('$0 dag configs/smoke.yaml --format dot | dot -Tsvg > dag.svg', 'every instance, drawn by Graphviz'),
      (args) => {
        print(dagText(loadConfig(args), args.format, args.collapse));
      },
    )
    .command(
      'history [run]',
      'past runs; with a run id, its stage executions',
      (command) =>
        command
          .positional('run', { type: 'number', describe: 'run id' })
          .options({ limit: { type: 'number', default: 20, describe: 'runs to list' }, ...jsonOption })
          .example('$0 history', 'the latest runs: config, overrides, commit, what ran')
          .example('$0 history 3', "run 3's stage executions with params, durations and errors"),
      async (args) => {
        await withCache(args, async (cache) => {
          if (args.run === undefined) {
            const runs = cache.history.runs(args.limit);
            if (args.json) return print(JSON.stringify(runs, null, 2));
            if (runs.length === 0) return print('no runs recorded in this cache');
            print(printTable([['run', 'started', 'took', 'status', 'ran', 'cached', 'failed', 'skipped', 'commit', 'config'], ...historyLines(runs)]));
            return;
          }
          const run = cache.history.run(args.run);
          if (!run) throw new UserError(`no run ${args.run} in this cache; see \`pipeline history\``, EXIT.usage);
          const executions = cache.history.executionsOf(run.id);
          if (args.json) return print(JSON.stringify({ run, executions }, null, 2));
          print(`run ${run.id} (${run.status}): ${run.command}`);
          print(`config ${describeRunSetup(run)}, commit ${run.gitCommit === null ? '-' : `${run.gitCommit}${run.gitDirty ? ' (with uncommitted changes)' : ''}`}`);
          print(
            printTable([
              ['instance', 'status', 'took', 'key', 'params'],
              ...executions.map((execution) => [
                execution.instance,
                execution.status,
                execution.durationMs === null ? '-' : formatDuration(execution.durationMs),
                execution.key?.slice(0, 12) ?? '-',
                JSON.stringify(execution.params),
              ]),
            ]),
          );
          for (const execution of executions.filter((candidate) => candidate.error)) print(`\n${execution.instance}: ${execution.error}`);
        });
      },
    )
    .command(
      'compare <runA> <runB>',
      'two runs: the params and metrics that differ, with the change',
      (command) =>
        command
          .positional('runA', { type: 'number', demandOption: true, describe: 'run id' })
          .positional('runB', { type: 'number', demandOption: true, describe: 'run id' })
          .options({
            all: { type: 'boolean', default: false, describe: 'also the params and metrics that are equal' },
            precision: { type: 'number', default: 4, describe: 'decimals of non-integer numbers' },
            ...jsonOption,
          })
          .example('$0 compare 1 3', 'what changed from run 1 to run 3')
          .example('$0 compare 1 3 --all --json', 'every param and metric, for a script'),
      async (args) => {
        if (!(Number.isInteger(args.precision) && args.precision >= 0 && args.precision <= 20)) throw new UserError(`--precision ${args.precision}: expected a whole number from 0 to 20`, EXIT.usage);
        await withCache(args, async (cache) => {
          const runs = [args.runA, args.runB].map((id) => {
            const run = cache.history.run(id);
            if (!run) throw new UserError(`no run ${id} in this cache; see \`pipeline history\``, EXIT.usage);
            return run;
          });
          const fields = compareRuns(cache.history, args.runA, args.runB);
          const shown = args.all ? fields : fields.filter((field) => field.changed);
          if (args.json) return print(JSON.stringify({ runA: args.runA, runB: args.runB, fields: shown }, null, 2));
          for (const run of runs) print(`run ${run.id}: ${describeRunSetup(run)}`);
          if (shown.length === 0) return print(`no param or metric differs (${fields.length} compared; --all shows them)`);
          print(
            printTable([
              ['instance', 'kind', 'name', `run ${args.runA}`, `run ${args.runB}`, 'change'],
              ...shown.map((field) => [
                field.instance,
                field.kind,
                field.name,
                formatValue(field.a, args.precision),
                formatValue(field.b, args.precision),
                formatValue(field.change, args.precision, true),
              ]),
            ]),
          );
          if (shown.length < fields.length) print(`(${fields.length - shown.length} equal not shown; --all shows them)`);
        });
      },
    )
    .command(
      'show <name> [config]',
      "an instance's outputs: summary and file path (for use from Python)",
      (command) =>
        configOptions(command.positional('name', { type: 'string', demandOption: true, describe: 'instance name' }))
          .options(jsonOption)
          .example('$0 show features@split=test configs/smoke.yaml', 'the Arrow file of the test features, its columns and rows'),
      async (args) => {
        const workspace = Workspace.open({ config: args.config, stages: setup.stages, overrides: args.set ?? [], ...(args['cache-dir'] ? { cacheDir: args['cache-dir'] } : {}) });
        try {
          const instance = workspace.instances().find((candidate) => candidate.name === args.name);
          if (!instance) throw new UserError(`${args.config} has no stage instance "${args.name}"; see \`pipeline dag ${args.config}\``, EXIT.usage);
          const outputs = [];
          for (const output of instance.outputs) outputs.push(await summarizeArtifact(workspace, instance.name, output.name));
          if (args.json) {
            print(JSON.stringify({ instance: instance.name, stage: instance.stageType, params: instance.params, outputs }, null, 2));
            return;
          }
          print(`${instance.name} (${instance.stageType}) ${JSON.stringify(instance.params)}`);
          for (const output of outputs) {
            const { output: name, kind, path, ...rest } = output as { output: string; kind: string; path: string };
            print(`  ${name} (${kind}): ${path}`);
            for (const [key, value] of Object.entries(rest)) print(`    ${key}: ${typeof value === 'string' ? value.replaceAll('\n', '\n      ') : JSON.stringify(value)}`);
          }
        } finally {
          workspace.close();
        }
      },
    )
    .command(
      'gc',
      'remove artifacts that no recent run used',
      (command) =>
        command.options({
          'keep-runs': { requiresArg: true, default: 10, describe: 'keep what the latest N runs used (0: empty the cache, with --yes)' },
          'dry-run': { type: 'boolean', default: false, describe: 'report, delete nothing' },
          yes: { type: 'boolean', default: false, describe: 'confirm --keep-runs 0' },
          ...waitOption,
          ...jsonOption,
        })
        .example('$0 gc --keep-runs 3 --dry-run', 'what keeping only the latest 3 runs would free'),
      async (args) => {
        const keepRuns = wholeNumber('keep-runs', args['keep-runs'], 0);
        await withCache(args, async (cache) => {
          if (keepRuns === 0 && !args['dry-run'] && !args.yes) {
            throw new UserError(`--keep-runs 0 removes every result and artifact of the cache ${cache.dir}; add --yes to confirm (--dry-run shows what would go)`, EXIT.usage);
          }
          const summary = await collectGarbage(cache, {
            keepRuns,
            dryRun: args['dry-run'],
            wait: args.wait,
            onWait: (holder) => reporterFor(stderr).waitingForLock(cache.dir, holder),
          });
          if (args.json) return print(JSON.stringify(summary, null, 2));
          print(`${args['dry-run'] ? 'would remove' : 'removed'} ${summary.removedFiles} files (${(summary.freedBytes / 1e6).toFixed(1)} MB) and ${summary.removedResults} results; kept ${summary.keptResults} results`);
        });
      },
    )
    .command(
      'verify',
      're-hash every cached artifact; damaged ones are deleted so the next run recomputes them',
      (command) =>
        command.options({
          'reset-history': { type: 'boolean', default: false, describe: 'first set history.db aside (as history.db.damaged-TIME) and start a fresh one; artifacts are kept, results recomputed' },
          ...waitOption,
          ...jsonOption,
        })
        .example('$0 verify --cache-dir /data/passeurs-cache', 'check a shared cache'),
      async (args) => {
        if (args['reset-history']) {
          const dir = resolveCacheDir(args['cache-dir']);
          const aside = await setHistoryAside(dir, { wait: args.wait, onWait: (holder) => reporterFor(stderr).waitingForLock(dir, holder) });
          stderr.write(aside ? `set the run history aside as ${aside}; a fresh one starts now\n` : 'no run history to set aside\n');
        }
        await withCache(args, async (cache) => {
          const reporter = reporterFor(stderr);
          const started = Date.now();
          reporter.stageStarted('verify');
          const summary = await verifyCache(cache, {
            wait: args.wait,
            onWait: (holder) => reporter.waitingForLock(cache.dir, holder),
            onProgress: (done, total) => reporter.stageProgress('verify', done, total, 'artifacts'),
          });
          reporter.stageFinished('verify', 'succeeded', Date.now() - started);
          reporter.close();
          if (summary.corrupt.length > 0) exitCode = EXIT.failed;
          if (args.json) return print(JSON.stringify(summary, null, 2));
          for (const damaged of summary.corrupt) print(`damaged: ${damaged.path} (expected sha256 ${damaged.expectedSha256}, found ${damaged.actualSha256 ?? 'no file'}); removed, the next run recomputes it`);
          for (const stray of summary.strays) print(`not an artifact (left alone): ${stray}`);
          const unreferenced = summary.unreferenced > 0 ? `; ${summary.unreferenced} intact but used by no recorded result (\`pipeline gc\` removes them)` : '';
          print(`verified ${summary.checked} artifacts: ${summary.corrupt.length === 0 ? 'all intact' : `${summary.corrupt.length} damaged`}${unreferenced}`);
        });
      },
    )
    .command([...setup.commands])
    .completion('completion', 'print a bash/zsh completion script (install: pipeline completion >> ~/.bashrc)')
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .help()
    .alias('help', 'h')
    .version(packageVersion())
    .exitProcess(false)
    .fail((message, error) => {
      // yargs reports some usage errors (an option missing its value) as a YError.
      if (error && error.name !== 'YError') throw error;
      throw new UserError(`${message ?? error?.message}\n(see \`pipeline --help\`)`, EXIT.usage);
    });
  skipEagerHelpText(parser);

  try {
    await parser.parseAsync();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SelectionError || error instanceof CacheError || error instanceof HistorySchemaError) {
      stderr.write(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof UserError) {
      stderr.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof CacheBusyError) {
      stderr.write(`error: ${error.message}\n`);
      return EXIT.busy;
    }
    if (error instanceof StaleInstanceError) {
      stderr.write(`error: ${error.message}\n`);
      return EXIT.failed;
    }
    stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT.failed;
  }
  return exitCode;
}
