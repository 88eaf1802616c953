// The bridge from the SVM tests to the real liblinear-train / liblinear-predict.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureSet } from '../data/tables.js';
import { readLiblinearModel, writeLibsvmFile, type LinearSvmModel } from '../numerics/svm/index.js';

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
