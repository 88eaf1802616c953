// The engine in-process on small test stages: caching, invalidation, concurrency, failures,
// damaged artifacts, determinism, and the workspace API.
import { appendFileSync, chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../pipeline/cli-app.js';
import { planPipeline } from '../pipeline/engine.js';
import type { ExecutionRecord } from '../pipeline/history.js';
import type { AnyStage } from '../pipeline/stage.js';
import { Workspace } from '../pipeline/workspace.js';
import { Sandbox, executed, testStages } from './fixtures/pipeline/helpers.js';

const diamond = readFileSync(join(import.meta.dirname, 'fixtures/pipeline/diamond.yaml'), 'utf8');
const ALL = ['a', 'b@k=1', 'b@k=2', 'crunch', 'side', 'sum'];

const sandboxes: Sandbox[] = [];
function sandbox(text = diamond, registry?: readonly AnyStage[]): Sandbox {
  const created = new Sandbox(text, registry);
  sandboxes.push(created);
  return created;
}
afterEach(() => {
  for (const created of sandboxes.splice(0)) created.close();
  delete process.env.PASSEURS_TEST_FAIL;
});

function withVersion(name: string, version: number): AnyStage[] {
  return testStages.map((stage) => (stage.name === name ? { ...stage, version } : stage));
}

/** Every object file in the store is referenced by a recorded result, and no temporary file is left. */
function expectNoStrayArtifacts(box: Sandbox): void {
  const referenced = new Set(box.cache.history.allResultOutputs().map((output) => box.cache.store.pathOf(output)));
  const present = box.cache.store.list().map((object) => box.cache.store.pathOf(object));
  expect(present.filter((path) => !referenced.has(path))).toEqual([]);
  expect(existsSync(box.cache.store.tmpDir) ? readdirSync(box.cache.store.tmpDir) : []).toEqual([]);
}

describe('caching', () => {
  it('runs every stage once, then nothing: a second run is all cache hits and status says all fresh', async () => {
    const box = sandbox();
    const first = await box.run();
    expect(first.status).toBe('succeeded');
    expect(executed(first)).toEqual(ALL);
    const second = await box.run();
    expect(executed(second)).toEqual([]);
    expect(second.executions.map((execution) => execution.status)).toEqual(ALL.map(() => 'cached'));
    const plan = planPipeline(box.cache, box.pipeline());
    expect([...plan.values()].every((freshness) => freshness.state === 'fresh')).toBe(true);
    expect(box.cache.history.executionsOf(second.runId).every((execution) => execution.cacheHit)).toBe(true);
  });

  it('reruns exactly the changed stage and its downstream when one param changes', async () => {
    const box = sandbox();
    await box.run();
    expect(executed(await box.run({ overrides: ['side.value=10'] }))).toEqual(['side']);
    expect(executed(await box.run({ overrides: ['side.value=10', 'base=2'] }))).toEqual(['a', 'b@k=1', 'b@k=2', 'crunch', 'sum']);
    expect(executed(await box.run({ overrides: ['side.value=10', 'base=2', 'sum.scale=3'] }))).toEqual(['sum']);
    expect(executed(await box.run({ overrides: ['side.value=10', 'base=2', 'sum.scale=3'] }))).toEqual([]);
  });

  it('status explains staleness: params changed, code version changed, upstream stale, never run', async () => {
    const box = sandbox();
    await box.run();
    const changed = planPipeline(box.cache, box.pipeline(['base=5']));
    expect(changed.get('a')).toMatchObject({ state: 'stale', reasons: ['params changed: value 1 -> 5'] });
    expect(changed.get('b@k=1')).toMatchObject({ state: 'stale', reasons: ['upstream stale: a'] });
    expect(changed.get('side')?.state).toBe('fresh');
    box.setRegistry(withVersion('heavy', 2));
    expect(planPipeline(box.cache, box.pipeline()).get('crunch')).toMatchObject({ state: 'stale', reasons: ['code version changed (1 -> 2)'] });
    box.setConfig(`${diamond}\n  - name: extra\n    uses: step\n    params: { value: 77 }\n`);
    expect(planPipeline(box.cache, box.pipeline()).get('extra')).toMatchObject({ state: 'stale', reasons: ['never run'] });
  });

  it('reruns exactly the stage and its downstream when a stage version is bumped', async () => {
    const box = sandbox();
    await box.run();
    box.setRegistry(withVersion('heavy', 2));
    expect(executed(await box.run())).toEqual(['crunch']);
    box.setRegistry(withVersion('total', 7).map((stage) => (stage.name === 'heavy' ? { ...stage, version: 2 } : stage)));
    expect(executed(await box.run())).toEqual(['sum']);
  });

  it('reruns exactly the downstream of an input whose bytes changed, and stops where bytes are unchanged', async () => {
    const box = sandbox();
    const numbersFile = join(box.folder.path, 'numbers.txt');
    writeFileSync(numbersFile, '1 2 3');
    box.setConfig(`
stages:
  - { name: src, uses: source, inputs: { text: { path: ${JSON.stringify(numbersFile)} } } }
  - { name: use, uses: step, params: { value: 1 }, inputs: { previous: src.numbers } }
  - { name: all, uses: total, inputs: { parts: "use*.numbers" } }
  - { name: side, uses: step, params: { value: 2 } }
`);
    expect(executed(await box.run())).toEqual(['all', 'side', 'src', 'use']);
    // Same bytes out of a forced source: its consumers are still fresh.
    expect(executed(await box.run({ force: ['src'] }))).toEqual(['src']);
    writeFileSync(numbersFile, '1 2 4');
    expect(executed(await box.run())).toEqual(['all', 'src', 'use']);
    const status = planPipeline(box.cache, box.pipeline());
    expect([...status.values()].every((freshness) => freshness.state === 'fresh')).toBe(true);
  });

  it('--only runs the named stages and what they need, nothing else', async () => {
    const box = sandbox();
    expect(executed(await box.run({ only: ['b@k=1'] }))).toEqual(['a', 'b@k=1']);
    expect(executed(await box.run({ only: ['sum'] }))).toEqual(['b@k=2', 'sum']);
  });
});

describe('execution', () => {
  function interval(executions: ExecutionRecord[], instance: string): [number, number] {
    const execution = executions.find((candidate) => candidate.instance === instance && candidate.status === 'succeeded')!;
    return [execution.startedAtMs, execution.finishedAtMs!];
  }
  const overlap = (x: [number, number], y: [number, number]) => x[0] < y[1] && y[0] < x[1];

  it('overlaps independent stages with --jobs 2, and never overlaps an all-cores stage with another', async () => {
    const box = sandbox(`
stages:
  - { name: quick, uses: step, params: { value: 1 } }
  - { name: p, uses: step, params: { value: 2, sleep_ms: 400 } }
  - { name: q, uses: step, params: { value: 3, sleep_ms: 400 } }
  - { name: r, uses: step, params: { value: 4, sleep_ms: 400 } }
  - { name: alone, uses: heavy, params: { sleep_ms: 300 }, inputs: { table: quick.table } }
`);
    const summary = await box.run({ jobs: 2 });
    expect(executed(summary)).toEqual(['alone', 'p', 'q', 'quick', 'r']);
    const executions = box.cache.history.executionsOf(summary.runId);
    const [p, q, r, alone] = ['p', 'q', 'r', 'alone'].map((name) => interval(executions, name)) as [number, number][];
    expect([overlap(p!, q!), overlap(p!, r!), overlap(q!, r!)]).toContain(true);
    for (const other of ['quick', 'p', 'q', 'r']) expect(overlap(alone!, interval(executions, other))).toBe(false);
  });

  it('decides from its params whether a stage needs all cores', async () => {
    const box = sandbox(`
stages:
  - { name: quick, uses: step, params: { value: 1 } }
  - { name: light1, uses: heavy, params: { light: true, sleep_ms: 400 }, inputs: { table: quick.table } }
  - { name: light2, uses: heavy, params: { light: true, sleep_ms: 900 }, inputs: { table: quick.table } }
  - { name: heavy1, uses: heavy, params: { sleep_ms: 300 }, inputs: { table: quick.table } }
`);
    const summary = await box.run({ jobs: 2 });
    const executions = box.cache.history.executionsOf(summary.runId);
    const [light1, light2, heavy1] = ['light1', 'light2', 'heavy1'].map((name) => interval(executions, name)) as [number, number][];
    expect(overlap(light1!, light2!)).toBe(true);
    expect([overlap(heavy1!, light1!), overlap(heavy1!, light2!)]).toEqual([false, false]);
  });

  it('computes a key once when two instances share it (the same stage, params and input bytes), at once or one after the other', async () => {
    const box = sandbox(`
stages:
  - { name: quick, uses: step, params: { value: 1 } }
  - { name: twin1, uses: step, params: { value: 2, sleep_ms: 300 } }
  - { name: twin2, uses: step, params: { value: 2, sleep_ms: 300 } }
  - { name: heavy1, uses: heavy, params: { sleep_ms: 300 }, inputs: { table: quick.table } }
  - { name: heavy2, uses: heavy, params: { sleep_ms: 300 }, inputs: { table: quick.table } }
  - { name: other, uses: heavy, params: { sleep_ms: 1 }, inputs: { table: quick.table } }
`);
    const summary = await box.run({ jobs: 2 });
    const ran = executed(summary);
    expect(ran.filter((name) => name.startsWith('twin'))).toHaveLength(1);
    expect(ran.filter((name) => name.startsWith('heavy'))).toHaveLength(1);
    expect(ran).toContain('other');
    const status = Object.fromEntries(summary.executions.map((execution) => [execution.instance, execution.status]));
    expect([status.twin1, status.twin2].sort()).toEqual(['cached', 'succeeded']);
    expect([status.heavy1, status.heavy2].sort()).toEqual(['cached', 'succeeded']);
    const keys = Object.fromEntries(summary.executions.map((execution) => [execution.instance, execution.key]));
    expect(keys.twin2).toBe(keys.twin1);
    expect(box.cache.history.resultOutputs(keys.twin1!)).toHaveLength(2);
    // --force makes each compute its own.
    expect(executed(await box.run({ jobs: 2, force: ['twin*'] }))).toEqual(['twin1', 'twin2']);
  });

  it('a throwing stage leaves no artifact and no fresh record; the next run completes like a clean one', async () => {
    const box = sandbox();
    process.env.PASSEURS_TEST_FAIL = 'b';
    const failed = await box.run();
    expect(failed.status).toBe('failed');
    const byInstance = new Map(failed.executions.map((execution) => [execution.instance, execution]));
    expect(byInstance.get('b@k=1')).toMatchObject({ status: 'failed', error: 'test failure in stage tagged b' });
    expect(byInstance.get('b@k=2')?.status).toBe('skipped');
    expect(byInstance.get('side')?.status).toBe('succeeded');
    expect(box.cache.history.resultOutputs(byInstance.get('b@k=1')!.key!)).toBeUndefined();
    expect(planPipeline(box.cache, box.pipeline()).get('b@k=1')?.state).toBe('stale');
    expectNoStrayArtifacts(box);

    delete process.env.PASSEURS_TEST_FAIL;
    const retry = await box.run();
    expect(executed(retry)).toEqual(['b@k=1', 'b@k=2', 'crunch', 'sum']);
    const clean = sandbox();
    await clean.run();
    expect(box.outputHashes()).toEqual(clean.outputHashes());
  });

  it('removes objects that a killed run stored but never recorded, at the next run', async () => {
    const box = sandbox();
    const bytes = new TextEncoder().encode('{"orphan":true}');
    const orphan = box.cache.store.identify([bytes], 'json');
    box.cache.history.notePendingObject(orphan);
    await box.cache.store.write(orphan, [bytes]);
    expect(existsSync(box.cache.store.pathOf(orphan))).toBe(true);
    await box.run();
    expect(existsSync(box.cache.store.pathOf(orphan))).toBe(false);
    expectNoStrayArtifacts(box);
  });

  it('rejects an output of the wrong kind, and records nothing for it', async () => {
    const liar = { ...testStages.find((stage) => stage.name === 'step')!, run: async () => ({ numbers: { values: [1] }, table: 'not a table' }) };
    const box = sandbox('stages:\n  - { name: x, uses: step, params: { value: 1 } }\n', [liar as AnyStage]);
    const summary = await box.run();
    expect(summary.executions[0]).toMatchObject({ status: 'failed', error: 'stage step output "table" (table): expected an apache-arrow Table' });
    expectNoStrayArtifacts(box);
  });

  it('writes byte-identical artifacts for the same inputs in two caches', async () => {
    const one = sandbox();
    const two = sandbox();
    await one.run({ jobs: 1 });
    await two.run({ jobs: 2 });
    expect(one.outputHashes()).toEqual(two.outputHashes());
    const files = (box: Sandbox) => box.cache.store.list().map((object) => readFileSync(box.cache.store.pathOf(object)).toString('base64'));
    expect(files(one).sort()).toEqual(files(two).sort());
  });
});

describe('damaged artifacts', () => {
  const quiet = { write: () => true };

  it('verify detects changed bytes of the same size and the next run recomputes only that stage', async () => {
    const box = sandbox();
    await box.run();
    const workspace = Workspace.open({ config: writeConfigFile(box), stages: testStages, cacheDir: box.cache.dir });
    const plot = workspace.artifact('sum', 'plot');
    const original = readFileSync(plot.path);
    workspace.close();
    chmodSync(plot.path, 0o644);
    const damaged = Buffer.from(original);
    damaged[0] = damaged[0]! ^ 0xff;
    writeFileSync(plot.path, damaged);

    let report = '';
    const code = await runCli(['verify', '--json', '--cache-dir', box.cache.dir], { stages: testStages, commands: [], stdout: { write: (text: string) => (report += text) }, stderr: quiet });
    expect(code).toBe(1);
    expect(JSON.parse(report)).toMatchObject({ corrupt: [{ path: plot.path, expectedSha256: plot.sha256, forgottenResults: 1 }] });
    expect(planPipeline(box.cache, box.pipeline()).get('sum')?.state).toBe('stale');
    expect(executed(await box.run())).toEqual(['sum']);
    expect(readFileSync(plot.path).equals(original)).toBe(true);
  });

  it('a run notices an artifact whose size changed and recomputes it', async () => {
    const box = sandbox();
    await box.run();
    const table = box.cache.history.resultOutputs(planPipeline(box.cache, box.pipeline()).get('a')!.key!)!.find((output) => output.output === 'table')!;
    const path = box.cache.store.pathOf(table);
    const original = readFileSync(path);
    chmodSync(path, 0o644);
    appendFileSync(path, 'junk');
    expect(planPipeline(box.cache, box.pipeline()).get('a')).toMatchObject({ state: 'stale', reasons: ['output missing or changed on disk: table'] });
    // a produces the same bytes again, so nothing downstream reruns.
    expect(executed(await box.run())).toEqual(['a']);
    expect(readFileSync(path).equals(original)).toBe(true);
  });
});

function writeConfigFile(box: Sandbox): string {
  const path = join(box.folder.path, 'diamond.yaml');
  writeFileSync(path, diamond);
  return path;
}

describe('workspace API and maintenance', () => {
  it('lists instances, loads outputs (tables included), gives file paths and metrics', async () => {
    const box = sandbox();
    const config = writeConfigFile(box);
    const before = Workspace.open({ config, stages: testStages, cacheDir: box.cache.dir });
    expect(before.instances().map((instance) => [instance.name, instance.fresh])).toEqual(['a', 'b@k=1', 'b@k=2', 'side', 'sum', 'crunch'].map((name) => [name, false]));
    expect(() => before.artifact('sum', 'metrics')).toThrow(/run `pipeline run/);
    before.close();
    await box.run();
    const workspace = Workspace.open({ config, stages: testStages, cacheDir: box.cache.dir });
    expect(workspace.instances().every((instance) => instance.fresh)).toBe(true);
    expect(await workspace.load('b@k=2', 'numbers')).toEqual({ values: [1, 11, 12] });
    const table = await workspace.load<'table'>('b@k=2', 'table');
    expect([...table.getChild('value')!]).toEqual([1, 11, 12]);
    const metrics = await workspace.load<'metrics'>('sum', 'metrics');
    expect(metrics).toEqual({ count: 5, mode: 'sum', result: 36 });
    expect(workspace.metrics()).toEqual(new Map([['sum', new Map([['metrics', metrics]])]]));
    const artifact = workspace.artifact('sum', 'plot');
    expect(artifact.path.endsWith('.txt')).toBe(true);
    // A many input's items carry their producers' matrix coordinates as data (k stays a number).
    expect(readFileSync(artifact.path, 'utf8')).toBe('{"k":1}: 1 11\n{"k":2}: 1 11 12');
    workspace.close();
  });

  it('loads a large float32 table as views of one file buffer, without copying columns', async () => {
    const box = sandbox('stages:\n  - { name: m, uses: wide, params: { rows: 50000, columns: 64 } }\n');
    await box.run();
    const config = join(box.folder.path, 'wide.yaml');
    writeFileSync(config, 'stages:\n  - { name: m, uses: wide, params: { rows: 50000, columns: 64 } }\n');
    const workspace = Workspace.open({ config, stages: testStages, cacheDir: box.cache.dir });
    const table = await workspace.load<'table'>('m', 'matrix');
    expect([table.numRows, table.numCols]).toEqual([50000, 64]);
    const buffers = table.schema.fields.map((field) => (table.getChild(field.name)!.data[0]!.values as Float32Array).buffer);
    expect(new Set(buffers).size).toBe(1);
    expect(buffers[0]!.byteLength).toBe(workspace.artifact('m', 'matrix').size);
    expect(table.getChild('c63')!.get(49999)).toBe(49999 * 64 + 63);
    workspace.close();
  });

  it('gc removes what no recent run used and keeps what they did', async () => {
    const box = sandbox();
    await box.run();
    await box.run({ overrides: ['side.value=3'] });
    const oldSide = box.cache.history.executionsOf(1).find((execution) => execution.instance === 'side')!.key!;
    let output = '';
    const code = await runCli(['gc', '--keep-runs', '1', '--json', '--cache-dir', box.cache.dir], { stages: testStages, commands: [], stdout: { write: (text: string) => (output += text) } });
    expect(code).toBe(0);
    expect(JSON.parse(output)).toMatchObject({ removedResults: 1, removedFiles: 2 });
    expect(box.cache.history.resultOutputs(oldSide)).toBeUndefined();
    expect(executed(await box.run({ overrides: ['side.value=3'] }))).toEqual([]);
    expectNoStrayArtifacts(box);
  });
});
