// The CLI verbs in-process: status, dry run, dag, history, compare, show, run's summary; and the cache location.
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveCacheDir } from '../pipeline/cache-handle.js';
import { runCli } from '../pipeline/cli-app.js';
import { testStages, temporaryFolder, writeConfig } from './fixtures/pipeline/helpers.js';

const diamond = join(import.meta.dirname, 'fixtures/pipeline/diamond.yaml');
const folders: ReturnType<typeof temporaryFolder>[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) folder.remove();
});

/** Runs the CLI with the test stages on a fresh cache; returns a function to run more commands on it. */
function cli() {
  const folder = temporaryFolder();
  folders.push(folder);
  const cacheDir = join(folder.path, 'cache');
  return async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli([...args, '--cache-dir', cacheDir], {
      stages: testStages,
      commands: [],
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    return { code, stdout, stderr };
  };
}

describe('pipeline CLI verbs', () => {
  it('status and --dry-run say what is stale and why; run makes everything fresh', async () => {
    const pipeline = cli();
    expect((await pipeline('status', diamond)).stdout).toMatch(/^stale {2}a {7}never run$/m);
    const dry = await pipeline('run', diamond, '--dry-run');
    expect(dry.stdout.split('\n')[0]).toBe('dry run: 6 of 6 would run');
    expect((await pipeline('status', diamond)).stdout).toMatch(/^0 fresh, 6 stale$/m);
    const run = await pipeline('run', diamond, '--jobs', '1');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^run 1 succeeded: 6 ran, 0 cached, 0 failed, 0 skipped$/m);
    expect(run.stderr).toMatch(/^started {5}crunch$/m);
    expect((await pipeline('status', diamond)).stdout).toMatch(/^all 6 fresh$/m);
    const changed = JSON.parse((await pipeline('status', diamond, '--set', 'base=3', '--json')).stdout) as { instance: string; state: string; reasons?: string[] }[];
    expect(changed.find((entry) => entry.instance === 'a')).toMatchObject({ state: 'stale', reasons: ['params changed: value 1 -> 3'] });
    expect(changed.filter((entry) => entry.state === 'fresh').map((entry) => entry.instance)).toEqual(['side']);
  });

  it('dag prints text, Mermaid and dot; --collapse draws one node per declaration', async () => {
    const pipeline = cli();
    expect((await pipeline('dag', diamond)).stdout).toContain('sum (total)\n    parts <- b@k=1.numbers, b@k=2.numbers\n');
    expect((await pipeline('dag', diamond, '--format', 'mermaid')).stdout).toContain('s1 -->|"numbers -> previous"| s2');
    const dot = (await pipeline('dag', diamond, '--format', 'dot')).stdout;
    expect(dot).toContain('"b@k=2" -> "crunch" [label="table -> table"];');
    // Graphviz reads \n in a label as a line break; an escaped backslash would show literally.
    expect(dot).toContain('"b@k=1" [shape=box, label="b@k=1\\n(step)"];');
    expect(dot).not.toContain('\\\\');

    // diamond.yaml declares five stages; b's two matrix instances become one node, b@k=2 reading b@k=1 a self-edge.
    expect((await pipeline('dag', diamond, '--collapse')).stdout).toBe(
      ['a (step)', 'b (step, 2 instances over k)', '    previous <- a.numbers, b.numbers', 'side (step)', 'sum (total)', '    parts <- b.numbers', 'crunch (heavy, all cores)', '    table <- b.table', ''].join('\n'),
    );
    const collapsedDot = (await pipeline('dag', diamond, '--collapse', '--format', 'dot')).stdout;
    expect(collapsedDot.match(/\[shape=box/g)).toHaveLength(5);
    expect(collapsedDot).toContain('"b" [shape=box, label="b\\n(step)\\n2 instances"];');
    expect(collapsedDot).toContain('"b" -> "b" [label="numbers -> previous"];');
    expect(collapsedDot.match(/ -> "/g)).toHaveLength(4);
    const collapsedMermaid = (await pipeline('dag', diamond, '--collapse', '--format', 'mermaid')).stdout;
    expect(collapsedMermaid).toContain('s1["b<br/>(step)<br/>2 instances"]');
    expect(collapsedMermaid).toContain('s1 -->|"numbers -> parts"| s3');

    expect((await pipeline('dag', diamond, '--format', 'svg')).code).toBe(2);
    expect(await pipeline('run', diamond, '--jobs', 'two')).toMatchObject({ code: 2, stderr: 'error: --jobs two: expected a whole number of at least 1\n' });
  });

  it('--force and --only without a name are usage errors; --force "*" reruns everything', async () => {
    const pipeline = cli();
    await pipeline('run', diamond);
    for (const option of ['--force', '--only']) {
      const bare = await pipeline('run', diamond, option);
      expect(bare.code).toBe(2);
      expect(bare.stderr.trim().split('\n')).toHaveLength(1);
      expect(bare.stderr).toMatch(new RegExp(`^error: ${option} needs what to (re)?run: ${option} NAME`));
      expect(bare.stdout).toBe('');
    }
    expect((await pipeline('run', diamond, '--force')).stderr).toContain("--force '*' reruns everything");
    expect((await pipeline('run', diamond, '--force', '*')).stdout).toMatch(/^run 2 succeeded: 6 ran, 0 cached, 0 failed, 0 skipped$/m);
  });

  it('history shows each run\'s overrides and folds runs that computed nothing; compare shows what changed, with the change', async () => {
    const pipeline = cli();
    await pipeline('run', diamond);
    await pipeline('run', diamond, '--set', 'sum.scale=0.1');
    const runs = JSON.parse((await pipeline('history', '--json')).stdout) as { id: number; executed: number; cached: number; overrides: string[] }[];
    expect(runs.map((run) => [run.id, run.executed, run.cached, run.overrides])).toEqual([
      [2, 1, 5, ['sum.scale=0.1']],
      [1, 6, 0, []],
    ]);
    const detail = JSON.parse((await pipeline('history', '2', '--json')).stdout) as { executions: { instance: string; cacheHit: boolean }[] };
    expect(detail.executions.filter((execution) => !execution.cacheHit).map((execution) => execution.instance)).toEqual(['sum']);

    // Only what differs, a change column, non-integers with 4 decimals, metric names once.
    const compared = await pipeline('compare', '1', '2');
    expect(compared.code).toBe(0);
    const table = compared.stdout.split('\n').filter((line) => /^(instance|sum) /.test(line));
    expect(table.map((line) => line.split(/\s+/))).toEqual([
      ['instance', 'kind', 'name', 'run', '1', 'run', '2', 'change'],
      ['sum', 'param', 'scale', '1', '0.1000', '-0.9000'],
      ['sum', 'metric', 'result', '36', '3.6000', '-32.4000'],
    ]);
    expect(compared.stdout).toMatch(/^run 2: \S*diamond\.yaml --set sum\.scale=0\.1$/m);
    expect(compared.stdout).not.toMatch(/metrics\.metrics|count|sleep_ms/);
    const all = await pipeline('compare', '1', '2', '--all');
    expect(all.stdout).toMatch(/^sum\s+metric\s+count\s+5\s+5\s+0$/m);
    expect(all.stdout).toMatch(/^a\s+param\s+value\s+1\s+1\s+0$/m);
    expect((await pipeline('compare', '1', '9')).code).toBe(2);

    await pipeline('run', diamond, '--set', 'sum.scale=0.1');
    await pipeline('run', diamond, '--set', 'sum.scale=0.1');
    const listed = (await pipeline('history')).stdout.split('\n');
    expect(listed).toHaveLength(5);
    expect(listed[1]).toMatch(/^3\.\.4 .* no-op x2 +0 +6 +0 +0 .*diamond\.yaml --set sum\.scale=0\.1$/);
    expect(listed[2]).toMatch(/^2 .* succeeded +1 +5 +0 +0 .*diamond\.yaml --set sum\.scale=0\.1$/);
    expect(listed[3]).toMatch(/^1 .* succeeded +6 +0 +0 +0 .*diamond\.yaml$/);
  });

  it('after a failure the summary counts as the history does, and names the skipped stages in one line', async () => {
    const pipeline = cli();
    process.env.PASSEURS_TEST_FAIL = 'b';
    const failed = await pipeline('run', diamond, '--jobs', '1').finally(() => delete process.env.PASSEURS_TEST_FAIL);
    expect(failed.code).toBe(1);
    // b@k=1 fails; b@k=2, sum (reads both b) and crunch (reads b@k=2) cannot start; a and side succeed.
    expect(failed.stdout.split('\n')).toEqual([
      'run 1 failed: 2 ran, 0 cached, 1 failed, 3 skipped',
      '  failed b@k=1: test failure in stage tagged b',
      '  3 skipped: upstream did not complete (failed: b@k=1)',
      '',
    ]);
    expect(failed.stderr).not.toMatch(/skipped/);
    const [run] = JSON.parse((await pipeline('history', '--json')).stdout) as { executed: number; failed: number; skipped: number }[];
    expect(run).toMatchObject({ executed: 2, failed: 1, skipped: 3 });
  });

  it('compares stale reasons with the last run of the same config file only', async () => {
    const pipeline = cli();
    const folder = folders[0]!.path;
    const small = writeConfig(folder, 'small.yaml', 'stages:\n  - { name: a, uses: step, params: { value: 1 } }\n');
    const large = writeConfig(folder, 'large.yaml', 'stages:\n  - { name: a, uses: step, params: { value: 2 } }\n');
    await pipeline('run', small);
    expect((await pipeline('status', large)).stdout).toMatch(/^stale {2}a {2}never run$/m);
    await pipeline('run', large);
    expect((await pipeline('status', small, '--set', 'a.value=3')).stdout).toMatch(/^stale {2}a {2}params changed: value 1 -> 3$/m);
    expect((await pipeline('status', large, '--set', 'a.value=3')).stdout).toMatch(/^stale {2}a {2}params changed: value 2 -> 3$/m);
  });

  it('show gives each output its path, size, hash and a summary', async () => {
    const pipeline = cli();
    expect((await pipeline('show', 'b@k=2', diamond)).code).toBe(1);
    await pipeline('run', diamond);
    const shown = JSON.parse((await pipeline('show', 'b@k=2', diamond, '--json')).stdout) as { outputs: Record<string, unknown>[] };
    expect(shown.outputs.map((output) => output.output)).toEqual(['numbers', 'table']);
    expect(shown.outputs[1]).toMatchObject({ kind: 'table', rows: 3, columns: ['value: Float64', 'position: Int32'] });
    expect(String(shown.outputs[1]!.path)).toMatch(/\.arrow$/);
    expect((await pipeline('show', 'nope', diamond)).stderr).toMatch(/has no stage instance "nope"/);
  });

  it('the hint to run a stale instance repeats the --set overrides, quoted for a shell', async () => {
    const pipeline = cli();
    const shown = await pipeline('show', 'side', diamond, '--set', 'base=2', '--set', "side.tag=it's here");
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain(`run \`pipeline run ${diamond} --set base=2 --set 'side.tag=it'\\''s here'\` first`);
  });

  it('puts the cache in --cache-dir, else $PASSEURS_CACHE, else .passeurs', () => {
    const saved = process.env.PASSEURS_CACHE;
    try {
      delete process.env.PASSEURS_CACHE;
      expect(resolveCacheDir()).toBe(resolve('.passeurs'));
      process.env.PASSEURS_CACHE = '/tmp/elsewhere';
      expect(resolveCacheDir()).toBe('/tmp/elsewhere');
      expect(resolveCacheDir('mine')).toBe(resolve('mine'));
    } finally {
      if (saved === undefined) delete process.env.PASSEURS_CACHE;
      else process.env.PASSEURS_CACHE = saved;
    }
  });
});
