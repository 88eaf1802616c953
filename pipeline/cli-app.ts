// The `pipeline` command line: engine verbs plus the study's own commands.
//
// Exit codes: 0 ok; 1 a stage failed, or verify found damage; 2 config or usage error (nothing
// ran); 3 the cache is in use and --no-wait was given; 130 interrupted.

import type { Table } from './arrow.js';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { CacheBusyError } from '../cache/lock.js';
import { openCache, resolveCacheDir, type Cache } from './cache-handle.js';
import { ConfigError, loadPipeline, type Pipeline } from './config.js';
import { planPipeline, runPipeline, SelectionError, type RunSummary } from './engine.js';
import type { ExecutionRecord } from './history.js';
import { collectGarbage, verifyCache } from './maintenance.js';
import { formatDuration, reporterFor, type TerminalSink, type TextSink } from './progress.js';
import { usesAllCores, type AnyStage } from './stage.js';
import { StaleInstanceError, Workspace } from './workspace.js';
import { pyarrowSnippet } from './python-snippet.js';

export const DEFAULT_CONFIG = 'configs/cifar.yaml';

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

function printTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]!.length))) ?? [];
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd()).join('\n');
}

function showValue(value: unknown): string {
  return value === undefined ? '-' : typeof value === 'string' ? value : JSON.stringify(value);
}

function dagText(pipeline: Pipeline, format: 'text' | 'mermaid' | 'dot'): string {
  const edges = pipeline.instances.flatMap((instance) =>
    Object.entries(instance.inputs).flatMap(([input, binding]) =>
      (binding.many ? binding.refs : [binding.ref]).map((ref) => ({ from: ref.instance, to: instance.name, label: `${ref.output} -> ${input}` })),
    ),
  );
  if (format === 'dot') {
    const quote = (text: string) => JSON.stringify(text);
    return [
      'digraph pipeline {',
      '  rankdir=LR;',
      ...pipeline.instances.map((instance) => `  ${quote(instance.name)} [shape=box, label=${quote(`${instance.name}\\n(${instance.stage.name})`)}];`),
      ...edges.map((edge) => `  ${quote(edge.from)} -> ${quote(edge.to)} [label=${quote(edge.label)}];`),
      '}',
    ].join('\n');
  }
  if (format === 'mermaid') {
    const ids = new Map(pipeline.instances.map((instance, index) => [instance.name, `s${index}`]));
    const escape = (text: string) => text.replace(/"/g, '#quot;');
    return [
      'graph LR',
      ...pipeline.instances.map((instance) => `  ${ids.get(instance.name)}["${escape(instance.name)}<br/>(${instance.stage.name})"]`),
      ...edges.map((edge) => `  ${ids.get(edge.from)} -->|"${escape(edge.label)}"| ${ids.get(edge.to)}`),
    ].join('\n');
  }
  return pipeline.instances
    .map((instance) => {
      const inputs = Object.entries(instance.inputs).map(
        ([input, binding]) => `    ${input} <- ${binding.many ? binding.refs.map((ref) => `${ref.instance}.${ref.output}`).join(', ') : `${binding.ref.instance}.${binding.ref.output}`}`,
      );
      return [`${instance.name} (${instance.stage.name}${usesAllCores(instance.stage, instance.params) ? ', all cores' : ''})`, ...inputs].join('\n');
    })
    .join('\n');
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

/** Builds and runs the CLI; resolves to the process exit code. */
export async function runCli(argv: readonly string[], setup: CliSetup): Promise<number> {
  const stdout: TextSink = setup.stdout ?? process.stdout;
  const stderr = setup.stderr ?? process.stderr;
  const print = (text: string) => stdout.write(`${text}\n`);
  let exitCode: number = EXIT.ok;

  const withCache = async <T>(args: CommonArgs, work: (cache: Cache) => Promise<T>): Promise<T> => {
    const cache = openCache(resolveCacheDir(args['cache-dir']));
    try {
      return await work(cache);
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
  const loadConfig = (args: ConfigArgs) => loadPipeline(args.config, setup.stages, args.set ?? []);

  const printRunSummary = (summary: RunSummary, json: boolean) => {
    if (json) return print(JSON.stringify(summary, null, 2));
    const count = (status: string) => summary.executions.filter((execution) => execution.status === status).length;
    print(`run ${summary.runId} ${summary.status}: ${count('succeeded')} ran, ${count('cached')} cached, ${count('failed')} failed, ${count('skipped')} skipped`);
    for (const execution of summary.executions.filter((candidate) => candidate.status === 'failed' || candidate.status === 'interrupted')) {
      print(`  ${execution.status} ${execution.instance}: ${execution.error ?? ''}`);
    }
  };

  const parser = yargs([...argv])
    .scriptName('pipeline')
    .usage('$0 <command> [options]\n\nContent-hashed, cached research pipelines. Start with: $0 run configs/cifar.yaml')
    .option('cache-dir', { type: 'string', describe: 'cache directory (default: $PASSEURS_CACHE, else .passeurs)' })
    .command(
      'run [config]',
      'run the stale stages of a config (fresh ones are reused)',
      (command) =>
        configOptions(command).options({
          only: { type: 'string', array: true, describe: 'run only these instances (name, stage name, or glob) and what they need' },
          force: { type: 'string', array: true, describe: 'rerun these instances even if fresh' },
          'dry-run': { type: 'boolean', default: false, describe: 'show what would run, run nothing' },
          jobs: { type: 'number', describe: 'stages run at once (default: number of cores)' },
          ...waitOption,
          ...jsonOption,
        }),
      async (args) => {
        if (args.jobs !== undefined && !(Number.isInteger(args.jobs) && args.jobs >= 1)) throw new UserError(`--jobs ${args.jobs}: expected a whole number of at least 1`, EXIT.usage);
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
              ...(args.jobs === undefined ? {} : { jobs: args.jobs }),
              wait: args.wait,
              signal: controller.signal,
              reporter: reporterFor(stderr),
              command: ['pipeline', ...argv].join(' '),
            });
            printRunSummary(summary, args.json);
            exitCode = summary.status === 'succeeded' ? EXIT.ok : summary.status === 'interrupted' ? EXIT.interrupted : EXIT.failed;
          } finally {
            process.off('SIGINT', interrupt);
            process.off('SIGTERM', interrupt);
          }
        });
      },
    )
    .command(
      'status [config]',
      'each stage instance: fresh or stale, and why',
      (command) => configOptions(command).options(jsonOption),
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
      (command) => configOptions(command).option('format', { choices: ['text', 'mermaid', 'dot'] as const, default: 'text' as const, describe: 'output format' }),
      (args) => {
        print(dagText(loadConfig(args), args.format));
      },
    )
    .command(
      'history [run]',
      'past runs; with a run id, its stage executions',
      (command) =>
        command
          .positional('run', { type: 'number', describe: 'run id' })
          .options({ limit: { type: 'number', default: 20, describe: 'runs to list' }, ...jsonOption }),
      async (args) => {
        await withCache(args, async (cache) => {
          if (args.run === undefined) {
            const runs = cache.history.runs(args.limit);
            if (args.json) return print(JSON.stringify(runs, null, 2));
            if (runs.length === 0) return print('no runs recorded in this cache');
            print(
              printTable([
                ['run', 'started', 'took', 'status', 'ran', 'cached', 'failed', 'config'],
                ...runs.map((run) => [
                  String(run.id),
                  new Date(run.startedAt).toISOString().replace('T', ' ').slice(0, 19),
                  run.finishedAt === null ? '-' : formatDuration(run.finishedAt - run.startedAt),
                  run.status,
                  String(run.executed),
                  String(run.cached),
                  String(run.failed),
                  run.config,
                ]),
              ]),
            );
            return;
          }
          const run = cache.history.run(args.run);
          if (!run) throw new UserError(`no run ${args.run} in this cache; see \`pipeline history\``, EXIT.usage);
          const executions = cache.history.executionsOf(run.id);
          if (args.json) return print(JSON.stringify({ run, executions }, null, 2));
          print(`run ${run.id} (${run.status}): ${run.command}`);
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
      'two runs side by side: params that differ and metrics',
      (command) =>
        command
          .positional('runA', { type: 'number', demandOption: true, describe: 'run id' })
          .positional('runB', { type: 'number', demandOption: true, describe: 'run id' })
          .options(jsonOption),
      async (args) => {
        await withCache(args, async (cache) => {
          const byInstance = (runId: number) => {
            if (!cache.history.run(runId)) throw new UserError(`no run ${runId} in this cache; see \`pipeline history\``, EXIT.usage);
            const executions = cache.history.executionsOf(runId).filter((execution) => execution.status === 'succeeded' || execution.status === 'cached');
            return new Map(executions.map((execution) => [execution.instance, execution]));
          };
          const runs = [byInstance(args.runA), byInstance(args.runB)] as const;
          const instances = [...new Set([...runs[0].keys(), ...runs[1].keys()])];
          const metricsOf = (execution: ExecutionRecord | undefined) => {
            const flat: Record<string, number | string> = {};
            if (execution?.key) for (const [output, entries] of cache.history.metricsOf(execution.key)) for (const [name, value] of Object.entries(entries)) flat[`${output}.${name}`] = value;
            return flat;
          };
          const rows = instances.flatMap((instance) => {
            const [a, b] = [runs[0].get(instance), runs[1].get(instance)];
            const paramNames = [...new Set([...Object.keys(a?.params ?? {}), ...Object.keys(b?.params ?? {})])].sort();
            const [metricsA, metricsB] = [metricsOf(a), metricsOf(b)];
            const metricNames = [...new Set([...Object.keys(metricsA), ...Object.keys(metricsB)])].sort();
            return [
              ...paramNames.map((name) => ({ instance, field: `params.${name}`, a: a?.params[name], b: b?.params[name] })),
              ...metricNames.map((name) => ({ instance, field: `metrics.${name}`, a: metricsA[name], b: metricsB[name] })),
            ];
          });
          if (args.json) return print(JSON.stringify({ runA: args.runA, runB: args.runB, rows }, null, 2));
          const shown = rows.filter((row) => row.field.startsWith('metrics.') || showValue(row.a) !== showValue(row.b));
          print(
            printTable([
              ['instance', 'field', `run ${args.runA}`, `run ${args.runB}`, ''],
              ...shown.map((row) => [row.instance, row.field, showValue(row.a), showValue(row.b), showValue(row.a) === showValue(row.b) ? '' : '*']),
            ]),
          );
          print(`(* differs; ${rows.length - shown.length} equal params not shown)`);
        });
      },
    )
    .command(
      'show <name> [config]',
      "an instance's outputs: summary and file path (for use from Python)",
      (command) => configOptions(command.positional('name', { type: 'string', demandOption: true, describe: 'instance name' })).options(jsonOption),
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
          'keep-runs': { type: 'number', default: 10, describe: 'keep what the latest N runs used' },
          'dry-run': { type: 'boolean', default: false, describe: 'report, delete nothing' },
          ...waitOption,
          ...jsonOption,
        }),
      async (args) => {
        await withCache(args, async (cache) => {
          const summary = await collectGarbage(cache, {
            keepRuns: args['keep-runs'],
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
      (command) => command.options({ ...waitOption, ...jsonOption }),
      async (args) => {
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
          print(`verified ${summary.checked} artifacts: ${summary.corrupt.length === 0 ? 'all intact' : `${summary.corrupt.length} damaged`}`);
        });
      },
    )
    .command([...setup.commands])
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .help()
    .alias('help', 'h')
    .version(false)
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UserError(`${message}\n(see \`pipeline --help\`)`, EXIT.usage);
    });

  try {
    await parser.parseAsync();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof SelectionError) {
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
