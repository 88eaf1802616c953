// Outside inputs (files and folders a config names) and input verification: the engine hashes
// what a stage reads, so a cached result always names the bytes it was computed from.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openCache } from '../pipeline/cache-handle.js';
import { loadPipeline } from '../pipeline/config.js';
import { planPipeline, runPipeline } from '../pipeline/engine.js';
import { Workspace } from '../pipeline/workspace.js';
import { Sandbox, executed, temporaryFolder, testStages, writeConfig } from './fixtures/pipeline/helpers.js';

const sandboxes: Sandbox[] = [];
function sandbox(text: string): Sandbox {
  const created = new Sandbox(text);
  sandboxes.push(created);
  return created;
}
afterEach(() => {
  for (const created of sandboxes.splice(0)) created.close();
});

const chain = (path: string) => `
stages:
  - { name: src, uses: source, inputs: { text: { path: ${JSON.stringify(path)} } } }
  - { name: use, uses: step, params: { value: 1 }, inputs: { previous: src.numbers } }
  - { name: side, uses: step, params: { value: 2 } }
`;

function reasonsOf(box: Sandbox, instance: string): readonly string[] {
  const freshness = planPipeline(box.cache, box.pipeline()).get(instance)!;
  return freshness.state === 'stale' ? freshness.reasons : [];
}

describe('outside inputs', () => {
  it('one changed byte of an outside file makes exactly its downstream stale, with the reason; touching it reruns nothing', async () => {
    const box = sandbox('');
    const file = join(box.folder.path, 'numbers.txt');
    writeFileSync(file, '1 2 3');
    box.setConfig(chain(file));
    expect(executed(await box.run())).toEqual(['side', 'src', 'use']);

    const later = new Date(Date.now() + 60_000);
    utimesSync(file, later, later);
    expect(executed(await box.run())).toEqual([]);

    writeFileSync(file, '1 2 4');
    expect(reasonsOf(box, 'src')).toEqual([`outside input changed: ${file}`]);
    expect(reasonsOf(box, 'use')).toEqual(['upstream stale: src']);
    expect(executed(await box.run())).toEqual(['src', 'use']);
    expect(await loadNumbers(box, 'use')).toEqual([1, 2, 4, 1]);
  });

  it('sees a change of content even when size and mtime are kept', async () => {
    const box = sandbox('');
    const file = join(box.folder.path, 'numbers.txt');
    writeFileSync(file, '1 2 3');
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(file, old, old);
    box.setConfig(chain(file));
    await box.run();
    writeFileSync(file, '1 2 5');
    utimesSync(file, old, old);
    expect(executed(await box.run())).toEqual(['src', 'use']);
  });

  it('hashes a folder as the sha256 of its `sha256sum` listing, and sees an added file', async () => {
    const box = sandbox('');
    const folder = join(box.folder.path, 'parts');
    mkdirSync(join(folder, 'sub'), { recursive: true });
    writeFileSync(join(folder, 'b.txt'), '2');
    writeFileSync(join(folder, 'a-1.txt'), '1');
    writeFileSync(join(folder, 'sub', 'c.txt'), '3');
    box.setConfig(chain(folder));
    await box.run();
    const listing = execFileSync('bash', ['-c', `cd ${JSON.stringify(folder)} && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum`], { encoding: 'utf8' });
    const recorded = box.cache.history.lastSuccessfulExecution('test.yaml', 'src')!.inputs.text;
    expect(recorded).toBe(listing.split(' ')[0]);
    expect(await loadNumbers(box, 'src')).toEqual([1, 2, 3]);

    writeFileSync(join(folder, 'sub', 'd.txt'), '4');
    expect(executed(await box.run())).toEqual(['src', 'use']);
    expect(await loadNumbers(box, 'src')).toEqual([1, 2, 3, 4]);
  });

  it('resolves a relative path against the config file, not the working directory', async () => {
    const root = temporaryFolder();
    try {
      for (const [name, text] of [['one', '1'], ['two', '2']]) {
        mkdirSync(join(root.path, name));
        writeFileSync(join(root.path, name, 'numbers.txt'), text);
        writeConfig(join(root.path, name), 'study.yaml', chain('numbers.txt'));
      }
      const cache = openCache(join(root.path, 'cache'));
      try {
        for (const name of ['one', 'two']) await runPipeline(cache, loadPipeline(join(root.path, name, 'study.yaml'), testStages));
        const one = planPipeline(cache, loadPipeline(join(root.path, 'one', 'study.yaml'), testStages)).get('src')!;
        const two = planPipeline(cache, loadPipeline(join(root.path, 'two', 'study.yaml'), testStages)).get('src')!;
        expect(one.state).toBe('fresh');
        expect(two.state).toBe('fresh');
        expect(one.key).not.toBe(two.key);
      } finally {
        cache.close();
      }
    } finally {
      root.remove();
    }
  });

  it('refuses a device or a FIFO at once, with one line, and runs nothing downstream', async () => {
    const box = sandbox('');
    const fifo = join(box.folder.path, 'pipe');
    execFileSync('mkfifo', [fifo]);
    for (const [path, what] of [['/dev/zero', 'a device'], [fifo, 'a FIFO']]) {
      box.setConfig(chain(path));
      const started = performance.now();
      const summary = await box.run();
      expect(performance.now() - started).toBeLessThan(2_000);
      const failed = summary.executions.find((execution) => execution.instance === 'src')!;
      expect(failed.status).toBe('failed');
      expect(failed.error).toContain(`${path}: ${what}`);
      expect(failed.error!.split('\n')).toHaveLength(1);
      expect(summary.executions.find((execution) => execution.instance === 'use')!.status).toBe('skipped');
      expect(reasonsOf(box, 'src')[0]).toMatch(/^outside input unreadable: /);
    }
  });

  it('fetches a URL pinned by its sha256, refuses other bytes, and fails fast with a fix when nothing answers', async () => {
    const server = createServer((_request, response) => response.end('4 5 6'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/numbers.txt`;
    const box = sandbox('');
    const withUrl = (target: string, sha256: string) => `
stages:
  - { name: src, uses: source, inputs: { text: { url: ${JSON.stringify(target)}, sha256: ${sha256} } } }
`;
    try {
      box.setConfig(withUrl(url, createHash('sha256').update('4 5 6').digest('hex')));
      expect(executed(await box.run())).toEqual(['src']);
      expect(await loadNumbers(box, 'src')).toEqual([4, 5, 6]);
      box.setConfig(withUrl(url, 'f'.repeat(64)));
      const refused = (await box.run()).executions[0]!;
      expect(refused.status).toBe('failed');
      expect(refused.error).toMatch(/sha256 is [0-9a-f]{64}, the config pins f{64}; refusing it/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    box.setConfig(withUrl(url, 'f'.repeat(64)));
    const started = performance.now();
    const offline = (await box.run()).executions[0]!;
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(offline.error).toMatch(/cannot download \(ECONNREFUSED\); offline, give a local copy as \{ path: \.\.\. \} instead/);
  });

  it('a missing file is a failed stage naming the path', async () => {
    const box = sandbox('');
    box.setConfig(chain(join(box.folder.path, 'nowhere.txt')));
    const summary = await box.run();
    expect(summary.executions.find((execution) => execution.instance === 'src')!.error).toMatch(/nowhere\.txt: no such file or folder/);
  });
});

describe('input verification', () => {
  const diamond = readFileSync(join(import.meta.dirname, 'fixtures/pipeline/diamond.yaml'), 'utf8');

  function damage(box: Sandbox, instance: string, output: string): void {
    const workspace = Workspace.open({ config: writeConfig(box.folder.path, 'diamond.yaml', diamond), stages: testStages, cacheDir: box.cache.dir });
    const { path } = workspace.artifact(instance, output);
    workspace.close();
    chmodSync(path, 0o644);
    const bytes = readFileSync(path);
    bytes[bytes.length - 3] ^= 0x01;
    writeFileSync(path, bytes);
  }

  function removeOutput(box: Sandbox, instance: string, output: string): void {
    const freshness = planPipeline(box.cache, box.pipeline()).get(instance)!;
    if (freshness.state !== 'fresh') throw new Error(`${instance} is not fresh`);
    box.cache.store.remove(freshness.outputs.find((candidate) => candidate.output === output)!);
  }

  it.each([
    ['forcing a consumer', (box: Sandbox) => box.run({ force: ['b@k=1'] })],
    ['removing a consumer output', (box: Sandbox) => (removeOutput(box, 'b@k=1', 'numbers'), box.run())],
  ])('a damaged input found while %s: its producer reruns first, the event is recorded, and the results are those of a clean run', async (_, rerun) => {
    const clean = sandbox(diamond);
    await clean.run();
    const box = sandbox(diamond);
    await box.run();
    damage(box, 'a', 'numbers');
    const summary = await rerun(box);
    expect(executed(summary)).toEqual(['a', 'b@k=1']);
    expect(box.cache.history.eventsOf(summary.runId)).toEqual([
      { instance: 'b@k=1', kind: 'damaged input', detail: expect.stringMatching(/^a\.numbers: .*damaged: its bytes no longer match the sha256 .*; removed it and recomputing a$/) },
    ]);
    expect(box.outputHashes()).toEqual(clean.outputHashes());
  });
});

async function loadNumbers(box: Sandbox, instance: string): Promise<number[]> {
  const freshness = planPipeline(box.cache, box.pipeline()).get(instance)!;
  if (freshness.state !== 'fresh') throw new Error(`${instance} is stale`);
  const stored = freshness.outputs.find((output) => output.output === 'numbers')!;
  return (JSON.parse(Buffer.from(await box.cache.store.read(stored)).toString('utf8')) as { values: number[] }).values;
}

describe('import-liblinear-model', () => {
  it('names the file it was given and quotes at most a short prefix of something that is not a model', async () => {
    const { importLiblinearModelStage } = await import('../stages/import-liblinear-model.js');
    const { featureSetToTable } = await import('../data/tables.js');
    const features = featureSetToTable({ count: 2, dimension: 3, labels: Uint8Array.from([0, 1]), features: new Float32Array(6), classes: ['cat', 'dog'], description: {} });
    const config = readFileSync('configs/cifar.yaml');
    const file = { origin: 'configs/cifar.yaml', kind: 'file' as const, files: new Map([['cifar.yaml', new Uint8Array(config)]]) };
    const context = { progress() {}, log() {}, signal: new AbortController().signal, threads: 1 };
    const error = await importLiblinearModelStage.run({ file, features }, {}, context).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error?.message).toContain('configs/cifar.yaml');
    expect(error!.message.split('\n')).toHaveLength(1);
    expect(error!.message.length).toBeLessThan(300);
    expect(error!.message).not.toContain('feature_layer');
  });
});
