// The CLI as real processes: SIGKILL in the middle of a stage, two runs on one cache, exit codes.
// Uses the compiled engine (dist/, built by `npm test` before vitest runs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { planPipeline } from '../pipeline/engine.js';
import { Sandbox } from './fixtures/pipeline/helpers.js';

const root = join(import.meta.dirname, '..');
const cliWithTestStages = join(root, 'test/fixtures/pipeline/cli.mjs');
const diamondPath = join(root, 'test/fixtures/pipeline/diamond.yaml');
const diamond = readFileSync(diamondPath, 'utf8');

beforeAll(() => {
  if (!existsSync(join(root, 'dist/pipeline/cli-app.js'))) throw new Error('dist/ is missing: run `npx tsc -p .` (npm test does) before these tests');
});

interface Child {
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** Resolves once stderr contains `text`. */
  waitFor(text: string): Promise<void>;
}

function startCli(args: readonly string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [cliWithTestStages, ...args], { cwd: root, env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const waiter of waiters.filter((candidate) => stderr.includes(candidate.text))) waiter.resolve();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exit,
    kill: (signal) => child.kill(signal),
    waitFor: (text) =>
      Promise.race([
        new Promise<void>((resolve) => (stderr.includes(text) ? resolve() : waiters.push({ text, resolve }))),
        exit.then(() => {
          if (!stderr.includes(text)) throw new Error(`the process exited before printing "${text}"; stderr:\n${stderr}`);
        }),
      ]),
  };
}

const sandboxes: Sandbox[] = [];
function sandbox(): Sandbox {
  const created = new Sandbox(diamond);
  sandboxes.push(created);
  return created;
}
afterEach(() => {
  for (const created of sandboxes.splice(0)) created.close();
});

function succeededInstances(jsonSummary: string): string[] {
  const summary = JSON.parse(jsonSummary) as { executions: { instance: string; status: string }[] };
  return summary.executions.filter((execution) => execution.status === 'succeeded').map((execution) => execution.instance).sort();
}

describe('pipeline run as a process', () => {
  it('killed with SIGKILL in the middle of a stage: no artifact, no fresh record; the next run completes like a clean run', async () => {
    const clean = sandbox();
    await clean.run();
    const box = sandbox();
    const killed = startCli(['run', diamondPath, '--cache-dir', box.cache.dir], { PASSEURS_TEST_SLOW: 'b:30000' });
    await killed.waitFor('[b@k=1] slow hook: sleeping');
    killed.kill('SIGKILL');
    expect((await killed.exit).signal).toBe('SIGKILL');

    const killedRun = box.cache.history.runs(1)[0]!;
    expect(killedRun.status).toBe('running');
    const inFlight = box.cache.history.executionsOf(killedRun.id).find((execution) => execution.instance === 'b@k=1')!;
    expect(inFlight.status).toBe('running');
    expect(box.cache.history.resultOutputs(inFlight.key!)).toBeUndefined();
    expect(planPipeline(box.cache, box.pipeline()).get('b@k=1')?.state).toBe('stale');
    const present = new Set(box.cache.store.list().map((object) => object.hash));
    expect(Object.values(clean.outputHashes()['b@k=1']!).filter((hash) => present.has(hash))).toEqual([]);

    const resumed = startCli(['run', diamondPath, '--cache-dir', box.cache.dir, '--json']);
    expect((await resumed.exit).code).toBe(0);
    expect(succeededInstances(resumed.stdout())).toEqual(expect.arrayContaining(['b@k=1', 'b@k=2', 'crunch', 'sum']));
    expect(succeededInstances(resumed.stdout())).not.toContain('a');
    expect(box.cache.history.run(killedRun.id)?.status).toBe('interrupted');
    expect(box.cache.history.executionsOf(killedRun.id).find((execution) => execution.instance === 'b@k=1')?.status).toBe('interrupted');
    // Whatever the kill interrupted (stage b@k=1, or another stage between storing and recording) left nothing behind.
    const referenced = new Set(box.cache.history.allResultOutputs().map((output) => box.cache.store.pathOf(output)));
    expect(box.cache.store.list().filter((object) => !referenced.has(box.cache.store.pathOf(object)))).toEqual([]);
    expect(existsSync(box.cache.store.tmpDir) ? readdirSync(box.cache.store.tmpDir) : []).toEqual([]);
    expect(box.outputHashes()).toEqual(clean.outputHashes());
  });

  it('two concurrent runs on one cache: the second waits, then finds everything fresh; --no-wait exits 3', async () => {
    const box = sandbox();
    // Long enough for two more node processes to start on a loaded machine; the test ends when it does.
    const first = startCli(['run', diamondPath, '--cache-dir', box.cache.dir, '--json'], { PASSEURS_TEST_SLOW: 'b:6000' });
    await first.waitFor('slow hook: sleeping');
    const second = startCli(['run', diamondPath, '--cache-dir', box.cache.dir, '--json']);
    const impatient = startCli(['run', diamondPath, '--cache-dir', box.cache.dir, '--no-wait']);
    await second.waitFor('waiting: the cache');
    expect(second.stderr()).toMatch(/waiting: the cache .* is in use by another pipeline \(pid \d+/);
    expect((await impatient.exit).code).toBe(3);
    expect(impatient.stderr()).toMatch(/error: the cache .* is in use by another pipeline \(pid \d+, `pipeline run .*`, since .*\); wait for it to finish/);
    const [firstExit, secondExit] = await Promise.all([first.exit, second.exit]);
    expect([firstExit.code, secondExit.code]).toEqual([0, 0]);
    expect(succeededInstances(first.stdout())).toEqual(['a', 'b@k=1', 'b@k=2', 'crunch', 'side', 'sum']);
    expect(succeededInstances(second.stdout())).toEqual([]);
    const verify = startCli(['verify', '--cache-dir', box.cache.dir]);
    expect((await verify.exit).code).toBe(0);
    expect(verify.stdout()).toMatch(/verified 11 artifacts: all intact/);
  });

  it('exits 2 on a config error, and documents every verb with --help', async () => {
    const broken = startCli(['run', join(root, 'test/fixtures/pipeline/errors/cycle.yaml'), '--cache-dir', join(root, 'dist/never')]);
    expect((await broken.exit).code).toBe(2);
    expect(broken.stderr()).toMatch(/cycle\.yaml:5: a\.inputs: cycle: a -> c -> b -> a/);
    const help = spawnSync(process.execPath, [cliWithTestStages, '--help'], { cwd: root, encoding: 'utf8' });
    expect(help.status).toBe(0);
    for (const verb of ['run [config]', 'status [config]', 'dag [config]', 'history [run]', 'compare <runA> <runB>', 'show <name> [config]', 'gc', 'verify']) {
      expect(help.stdout).toContain(`pipeline ${verb}`);
    }
    const runHelp = spawnSync(process.execPath, [cliWithTestStages, 'run', '--help'], { cwd: root, encoding: 'utf8' });
    for (const option of ['--only', '--force', '--dry-run', '--set', '--jobs', '--no-wait', '--json', '--cache-dir']) expect(runHelp.stdout).toContain(option);
  });

  it('a reader that closes the pipe early (`| head -1`) ends the output quietly, exit 0', async () => {
    for (const args of [['dag', diamondPath], ['history', '--cache-dir', join(root, 'dist/never')], ['--help']]) {
      const child = spawn(process.execPath, [cliWithTestStages, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      // Closed before the process writes anything: its first write to stdout fails with EPIPE.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect({ args, code, stderr }).toEqual({ args, code: 0, stderr: '' });
    }
  });

  it('interrupted (Ctrl-C): the summary counts as the history does, and one line stands for the stages that did not start', async () => {
    const box = sandbox();
    const run = startCli(['run', diamondPath, '--cache-dir', box.cache.dir, '--jobs', '1'], { PASSEURS_TEST_SLOW: 'b:1500' });
    await run.waitFor('[b@k=1] slow hook: sleeping');
    run.kill('SIGINT');
    expect((await run.exit).code).toBe(130);
    const [recorded] = box.cache.history.runs(1);
    const summary = run.stdout().split('\n')[0];
    expect(summary).toBe(`run ${recorded!.id} interrupted: ${recorded!.executed} ran, ${recorded!.cached} cached, ${recorded!.failed} failed, ${recorded!.skipped} skipped`);
    // b@k=1 finishes its sleep; what had not started when Ctrl-C came is skipped: b@k=2, sum, crunch at least.
    expect(recorded!.skipped).toBeGreaterThanOrEqual(3);
    expect(run.stdout()).toContain(`\n  ${recorded!.skipped} skipped: the run was interrupted before they started\n`);
    expect(run.stdout().match(/skipped:/g)).toHaveLength(1);
    expect(run.stderr()).not.toMatch(/skipped/);
  });
});

describe('pipeline command-line conventions', () => {
  const bin = join(root, 'dist/pipeline/cli.js');
  const pipeline = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });

  it('--version prints the package version; completion prints a shell script', () => {
    const version = pipeline('--version');
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version);
    const completion = pipeline('completion');
    expect(completion.status).toBe(0);
    expect(completion.stdout).toContain('pipeline --get-yargs-completions');
    expect(pipeline('--get-yargs-completions', 'pipeline', 'run', '--f').stdout.split('\n')).toContain('--force');
  });

  it('started as a program, the bin runs under its shebang: glibc asked for huge pages, the collector exposed', () => {
    // No spaces: NODE_OPTIONS splits on them.
    const probe = "console.error(process.env.GLIBC_TUNABLES+'/'+typeof(globalThis.gc))";
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--import=data:text/javascript,${probe}` };
    delete env.GLIBC_TUNABLES;
    const started = spawnSync(bin, ['--version'], { cwd: root, encoding: 'utf8', env });
    expect(started.status).toBe(0);
    expect(started.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(started.stderr.trim()).toBe('glibc.malloc.hugetlb=1/function');
  });

  it('every verb shows examples in its help; report, like the others, defaults its config', () => {
    for (const verb of ['run', 'status', 'dag', 'history', 'compare', 'show', 'gc', 'verify', 'report', 'export']) {
      const help = pipeline(verb, '--help');
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`Examples:\\n  pipeline ${verb} `));
    }
    expect(pipeline('report', '--help').stdout).toMatch(/^pipeline report \[config]\n[^]*^ {2}config .*\[default: "configs\/cifar\.yaml"]$/m);
    const report = pipeline('report', '--cache-dir', join(root, 'dist/never'));
    expect(report.status).toBe(1);
    expect(report.stderr).toMatch(/^error: report is not computed .*; run `pipeline run configs\/cifar\.yaml` first\n$/);
  });
});
