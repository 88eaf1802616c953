// The public/private split of the test set, on the smoke subset of the real CIFAR-10 test set
// (the first 100 images of each class): deterministic, stratified and disjoint.

import { beforeAll, describe, expect, it } from 'vitest';
import { imageSetToTable, tableToImageSet, IMAGE_BYTES, type ImageSet } from '../data/tables.js';
import { arrow } from '../pipeline/arrow.js';
import { splitTestSetStage } from '../stages/split-test-set.js';
import { stratifiedSplit } from '../numerics/audit/split.js';
import { seededUniform } from '../numerics/random.js';
import { loadTestCifar } from './global-setup.js';

const { tableToIPC } = arrow();

const context = { progress() {}, log() {}, signal: new AbortController().signal, threads: 1 };

let test: ImageSet;
beforeAll(async () => {
  test = (await loadTestCifar(100)).test;
});

const split = (publicFraction = 0.5, seed = 1) => splitTestSetStage.run({ images: imageSetToTable(test) }, { public_fraction: publicFraction, seed }, context);

const perClass = (set: ImageSet) => {
  const counts = new Array<number>(10).fill(0);
  for (const label of set.labels) counts[label]++;
  return counts;
};

describe('split-test-set on the smoke subset', () => {
  it('is deterministic: the same bytes twice', async () => {
    const [first, second] = [await split(), await split()];
    expect(Buffer.from(tableToIPC(first.public)).equals(Buffer.from(tableToIPC(second.public)))).toBe(true);
    expect(Buffer.from(tableToIPC(first.private)).equals(Buffer.from(tableToIPC(second.private)))).toBe(true);
  });

  it('is stratified: each class is cut in the requested proportion', async () => {
    expect(perClass(test)).toEqual(new Array(10).fill(100));
    const halves = await split();
    expect(perClass(tableToImageSet(halves.public))).toEqual(new Array(10).fill(50));
    expect(perClass(tableToImageSet(halves.private))).toEqual(new Array(10).fill(50));
    const quarter = await split(0.25);
    expect(perClass(tableToImageSet(quarter.public))).toEqual(new Array(10).fill(25));
  });

  it('is disjoint and complete, and every image keeps its label and pixels', async () => {
    const parts = await split();
    const [publicSet, privateSet] = [tableToImageSet(parts.public), tableToImageSet(parts.private)];
    const publicIndices = new Set(publicSet.indices);
    expect(privateSet.indices.some((index) => publicIndices.has(index))).toBe(false);
    expect([...publicSet.indices, ...privateSet.indices].sort((a, b) => a - b)).toEqual([...test.indices].sort((a, b) => a - b));
    const position = new Map(Array.from(test.indices, (index, i) => [index, i]));
    const image = (set: ImageSet, row: number) => Buffer.from(set.pixels.subarray(row * IMAGE_BYTES, (row + 1) * IMAGE_BYTES));
    const mismatches: number[] = [];
    for (const set of [publicSet, privateSet]) {
      for (let row = 0; row < set.count; row++) {
        const source = position.get(set.indices[row])!;
        if (set.labels[row] !== test.labels[source] || !image(set, row).equals(image(test, source))) mismatches.push(set.indices[row]);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('draws at random within each class: another seed gives another split, not the first half of each class', async () => {
    const [one, two] = [tableToImageSet((await split(0.5, 1)).public), tableToImageSet((await split(0.5, 2)).public)];
    expect(Array.from(one.indices)).not.toEqual(Array.from(two.indices));
    const firstHalves = new Set<number>();
    for (let label = 0; label < 10; label++) {
      test.indices.filter((_, i) => test.labels[i] === label).slice(0, 50).forEach((index) => firstHalves.add(index));
    }
    expect(Array.from(one.indices).every((index) => firstHalves.has(index))).toBe(false);
  });

  it('refuses a fraction that leaves a part empty', async () => {
    await expect(split(1)).rejects.toThrow(/public_fraction must be strictly between 0 and 1/);
    expect(() => stratifiedSplit(Uint8Array.of(0, 1), 0, seededUniform(1))).toThrow(/strictly between 0 and 1/);
  });
});
