import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CIFAR10_CLASSES,
  RECORD_BYTES,
  firstPerClass,
  imageSetToRecords,
  recordCount,
  recordLabels,
  recordsToImageSet,
} from '../data/cifar10-records.js';
import { readTar } from '../data/tar.js';
import { imageSetToTable, tableToImageSet } from '../data/tables.js';
import { loadMiniCifar, miniCifarRecords } from './fixtures/cifar10-mini.js';

// Published facts (NOTES.md §1).
const FIRST_TRAIN_LABELS = [6, 9, 9, 4, 1, 1, 2, 7, 8, 3];
const FIRST_TEST_LABELS = [3, 8, 8, 0, 6, 6, 1, 6, 3, 1];

const scratch = mkdtempSync(join(tmpdir(), 'passeurs-records-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the cifar10-mini fixture', () => {
  const { train, test } = loadMiniCifar();

  it('holds the first 30 train and 10 test images of each class, in original order', () => {
    for (const [set, perClass] of [
      [train, 30],
      [test, 10],
    ] as const) {
      expect(set.count).toBe(perClass * 10);
      const counts = new Array(10).fill(0);
      for (const label of set.labels) counts[label]++;
      expect(counts).toEqual(new Array(10).fill(perClass));
      expect(Array.from(set.indices)).toEqual([...set.indices].sort((a, b) => a - b));
      expect(set.classes).toEqual([...CIFAR10_CLASSES]);
    }
  });

  it('is real CIFAR-10: the first images carry the published first labels', () => {
    const labelOfIndex = (set: typeof train, index: number) => set.labels[Array.from(set.indices).indexOf(index)];
    expect(FIRST_TRAIN_LABELS.map((_, i) => labelOfIndex(train, i))).toEqual(FIRST_TRAIN_LABELS);
    expect(FIRST_TEST_LABELS.map((_, i) => labelOfIndex(test, i))).toEqual(FIRST_TEST_LABELS);
  });

  it('round-trips through an Arrow table', () => {
    const back = tableToImageSet(imageSetToTable(test));
    expect(Buffer.from(back.pixels).equals(Buffer.from(test.pixels))).toBe(true);
    expect(Array.from(back.indices)).toEqual(Array.from(test.indices));
    expect(back.classes).toEqual(test.classes);
  });
});

describe('record layout conversion', () => {
  const { train } = miniCifarRecords();
  const positions = Int32Array.from({ length: train.indices.length }, (_, i) => i);

  it('moves record byte 1 + c*1024 + y*32 + x to HWC pixel (y*32 + x)*3 + c', () => {
    const set = recordsToImageSet([train.records], positions);
    for (let n = 0; n < set.count; n++) {
      const record = train.records.subarray(n * RECORD_BYTES, (n + 1) * RECORD_BYTES);
      expect(set.labels[n]).toBe(record[0]);
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          for (let c = 0; c < 3; c++) {
            if (set.pixels[n * 3072 + (y * 32 + x) * 3 + c] !== record[1 + c * 1024 + y * 32 + x]) {
              throw new Error(`image ${n} pixel (${y}, ${x}) channel ${c} misplaced`);
            }
          }
        }
      }
    }
  });

  it('is undone exactly by imageSetToRecords', () => {
    const set = recordsToImageSet([train.records], positions);
    expect(Buffer.from(imageSetToRecords(set)).equals(Buffer.from(train.records))).toBe(true);
  });

  it('reads a split spread over several record files as one sequence', () => {
    const cut = 77 * RECORD_BYTES;
    const whole = recordsToImageSet([train.records], positions);
    const pieces = recordsToImageSet([train.records.subarray(0, cut), train.records.subarray(cut)], positions);
    expect(Buffer.from(pieces.pixels).equals(Buffer.from(whole.pixels))).toBe(true);
    expect(Array.from(recordLabels([train.records.subarray(0, cut), train.records.subarray(cut)]))).toEqual(Array.from(whole.labels));
  });

  it('refuses a file that is not a whole number of records', () => {
    expect(() => recordCount(train.records.subarray(1), 'data_batch_1.bin')).toThrow(/data_batch_1\.bin: 921899 bytes/);
  });
});

describe('subset selection (first N per class)', () => {
  const labels = loadMiniCifar().train.labels;

  it('keeps, for each class, its N earliest images, in original order', () => {
    for (const perClass of [1, 3, 17]) {
      const chosen = Array.from(firstPerClass(labels, perClass));
      const expected: number[] = [];
      for (let label = 0; label < 10; label++) {
        expected.push(...Array.from(labels.keys()).filter((i) => labels[i] === label).slice(0, perClass));
      }
      expect(chosen).toEqual(expected.sort((a, b) => a - b));
    }
  });

  it('is deterministic, keeps everything at 0, and keeps all of a class that has fewer than N', () => {
    expect(Array.from(firstPerClass(labels, 5))).toEqual(Array.from(firstPerClass(labels, 5)));
    expect(firstPerClass(labels, 0).length).toBe(labels.length);
    expect(firstPerClass(labels, 1000).length).toBe(labels.length);
  });
});

describe('tar reader', () => {
  const { test } = miniCifarRecords();
  // Paths past tar's 100-byte name field: ustar splits them into prefix + name, GNU and pax add a header.
  const longFolders: Record<string, string> = {
    ustar: `cifar-10-batches-bin/${'x'.repeat(90)}/`,
    gnu: `cifar-10-batches-bin/${'a-folder-name-long-enough-to-need-an-extended-header/'.repeat(3)}`,
    pax: `cifar-10-batches-bin/${'a-folder-name-long-enough-to-need-an-extended-header/'.repeat(3)}`,
  };

  it.each(['ustar', 'gnu', 'pax'])('lists the regular files of a %s archive with their exact bytes', (format) => {
    const root = join(scratch, format);
    const folder = longFolders[format];
    mkdirSync(join(root, folder), { recursive: true });
    writeFileSync(join(root, folder, 'test_batch.bin'), test.records);
    writeFileSync(join(root, 'empty.txt'), '');
    const archive = join(scratch, `${format}.tar`);
    execFileSync('tar', ['-cf', archive, `--format=${format}`, '-C', root, 'empty.txt', 'cifar-10-batches-bin']);
    const entries = readTar(new Uint8Array(readFileSync(archive)), archive);
    expect(entries.map((e) => e.path)).toEqual(['empty.txt', `${folder}test_batch.bin`]);
    expect(entries[0].bytes.length).toBe(0);
    expect(Buffer.from(entries[1].bytes).equals(Buffer.from(test.records))).toBe(true);
  });

  it('refuses a truncated archive', () => {
    const root = join(scratch, 'truncated');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'test_batch.bin'), test.records);
    const archive = join(scratch, 'truncated.tar');
    execFileSync('tar', ['-cf', archive, '-C', root, 'test_batch.bin']);
    expect(() => readTar(new Uint8Array(readFileSync(archive)).subarray(0, 5000), 'x.tar')).toThrow(/x\.tar: .*truncated/);
  });
});
