// Test data for the SVM tests, and the bridge to the real liblinear-train / liblinear-predict.
//
// Until the featurize stage produces real CNN features, the fixture is a deterministic stand-in
// with the statistics that matter to the solvers: ReLU features (about 40 % zeros, nonnegative,
// unnormalized), 10 overlapping classes, so that no class is separable and the reference
// converges.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureSet } from '../data/tables.js';
import { readLiblinearModel, writeLibsvmFile, type LinearSvmModel } from '../numerics/svm/index.js';

export const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** A fixed-seed generator of floats in [0, 1). */
export function uniformGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * count x dimension ReLU features: x = max(0, mean[class] + 0.8 * noise + shared factors), with
 * class means drawn once from `seed` (so train and test splits share them) and rows from `rowSeed`.
 */
export function reluFeatures(count: number, dimension: number, seed: number, rowSeed: number, classCount = 10): FeatureSet {
  const classRandom = uniformGenerator(seed);
  const gaussian = (random: () => number) => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const means = Float64Array.from({ length: classCount * dimension }, () => 0.6 * gaussian(classRandom) - 0.2);
  const factors = 4;
  const loadings = Float64Array.from({ length: factors * dimension }, () => 0.5 * gaussian(classRandom));
  const random = uniformGenerator(rowSeed);
  const labels = new Uint8Array(count);
  const features = new Float32Array(count * dimension);
  for (let i = 0; i < count; i++) {
    const label = i % classCount;
    labels[i] = label;
    const scores = Array.from({ length: factors }, () => gaussian(random));
    for (let j = 0; j < dimension; j++) {
      let value = means[label * dimension + j] + 0.8 * gaussian(random);
      for (let f = 0; f < factors; f++) value += scores[f] * loadings[f * dimension + j];
      features[i * dimension + j] = Math.max(0, value);
    }
  }
  return { count, dimension, labels, features, classes: CLASSES.slice(0, classCount), description: { source: 'test fixture: synthetic ReLU features' } };
}

export interface ReferenceRun {
  readonly model: LinearSvmModel;
  /** liblinear-predict's predicted labels on the test set. */
  readonly predictions: Uint8Array;
  /** Each "Objective value = ..." line liblinear-train printed (dual-cd only). */
  readonly printedObjectives: number[];
  readonly output: string;
}

/** Runs `liblinear-train <options> -q?` on train and `liblinear-predict` on test, in a temporary directory. */
export async function runLiblinear(train: FeatureSet, test: FeatureSet, options: string[]): Promise<ReferenceRun> {
  const directory = mkdtempSync(join(tmpdir(), 'passeurs-liblinear-'));
  try {
    const trainFile = join(directory, 'train.txt');
    const testFile = join(directory, 'test.txt');
    const modelFile = join(directory, 'model.txt');
    const predictionFile = join(directory, 'predictions.txt');
    await writeLibsvmFile(train, trainFile);
    await writeLibsvmFile(test, testFile);
    const output = execFileSync('liblinear-train', [...options, trainFile, modelFile], { encoding: 'utf8', maxBuffer: 1 << 26 });
    execFileSync('liblinear-predict', [testFile, modelFile, predictionFile], { encoding: 'utf8' });
    const model = readLiblinearModel(readFileSync(modelFile, 'utf8'), { classes: train.classes, dimension: train.dimension });
    const predictions = Uint8Array.from(readFileSync(predictionFile, 'utf8').trim().split('\n'), Number);
    const printedObjectives = [...output.matchAll(/Objective value = (\S+)/g)].map((match) => Number(match[1]));
    return { model, predictions, printedObjectives, output };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

export function cosineSimilarity(a: Float64Array, b: Float64Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let j = 0; j < a.length; j++) {
    ab += a[j] * b[j];
    aa += a[j] * a[j];
    bb += b[j] * b[j];
  }
  return ab / Math.sqrt(aa * bb);
}
