// The read-only CLI verbs in-process: status, dry run, dag, history, compare, show; and the cache location.
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveCacheDir } from '../pipeline/cache-handle.js';
import { runCli } from '../pipeline/cli-app.js';
import { testStages, temporaryFolder } from './fixtures/pipeline/helpers.js';

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

  it('dag prints text, Mermaid and dot', async () => {
    const pipeline = cli();
    expect((await pipeline('dag', diamond)).stdout).toContain('sum (total)\n    parts <- b@k=1.numbers, b@k=2.numbers\n');
    expect((await pipeline('dag', diamond, '--format', 'mermaid')).stdout).toContain('s1 -->|"numbers -> previous"| s2');
    expect((await pipeline('dag', diamond, '--format', 'dot')).stdout).toContain('"b@k=2" -> "crunch" [label="table -> table"];');
    expect((await pipeline('dag', diamond, '--format', 'svg')).code).toBe(2);
    expect(await pipeline('run', diamond, '--jobs', 'two')).toMatchObject({ code: 2, stderr: 'error: --jobs two: expected a whole number of at least 1\n' });
  });

  it('history lists runs and executions; compare shows params and metrics side by side', async () => {
    const pipeline = cli();
    await pipeline('run', diamond);
    await pipeline('run', diamond, '--set', 'sum.scale=2');
    const runs = JSON.parse((await pipeline('history', '--json')).stdout) as { id: number; executed: number; cached: number }[];
    expect(runs.map((run) => [run.id, run.executed, run.cached])).toEqual([
      [2, 1, 5],
      [1, 6, 0],
    ]);
    const detail = JSON.parse((await pipeline('history', '2', '--json')).stdout) as { executions: { instance: string; cacheHit: boolean }[] };
    expect(detail.executions.filter((execution) => !execution.cacheHit).map((execution) => execution.instance)).toEqual(['sum']);
    const compared = await pipeline('compare', '1', '2');
    expect(compared.stdout).toMatch(/^sum\s+params\.scale\s+1\s+2\s+\*$/m);
    expect(compared.stdout).toMatch(/^sum\s+metrics\.metrics\.result\s+36\s+72\s+\*$/m);
    expect((await pipeline('compare', '1', '9')).code).toBe(2);
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
