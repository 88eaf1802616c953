// The bridge from the SVM tests to the real liblinear-train / liblinear-predict, and the real
// CNN features they compare on.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureSet, ImageSet } from '../data/tables.js';
import { loadMobileNet } from '../numerics/backbones/mobilenet.js';
import { createEngine } from '../numerics/engines/index.js';
import { readLiblinearModel, writeLibsvmFile, type LinearSvmModel } from '../numerics/svm/index.js';
import { loadTestCifar } from './global-setup.js';
import { MODELS } from './support/test-images.js';

export interface FeatureSetting {
  readonly inputSize: number;
  readonly featureLayer: string;
}

/** MobileNet features of the first `perClass` train and test images of each class, computed as the featurize stage does. */
export async function realFeatures(perClass: { train: number; test: number }, setting: FeatureSetting): Promise<{ train: FeatureSet; test: FeatureSet }> {
  const [{ train }, { test }] = await Promise.all([loadTestCifar(perClass.train), loadTestCifar(perClass.test)]);
  const backbone = await loadMobileNet(MODELS);
  const engine = await createEngine('onnx', backbone, { ...setting, threads: 2, batchSize: 100 });
  try {
    const featurize = async (images: ImageSet, split: string): Promise<FeatureSet> => ({
      count: images.count,
      dimension: engine.dimension,
      labels: images.labels,
      features: await engine.features(images.pixels, images.count),
      classes: images.classes,
      description: { source: `CIFAR-10 ${split}, first ${images.count / 10} per class, ${backbone.name} ${setting.featureLayer} at ${setting.inputSize}` },
    });
    return { train: await featurize(train, 'train'), test: await featurize(test, 'test') };
  } finally {
    await engine.dispose();
  }
}

/** A train and a test set written once in libsvm format, for any number of liblinear-train runs. */
export interface LibsvmFiles {
  readonly train: FeatureSet;
  readonly test: FeatureSet;
  readonly directory: string;
  remove(): void;
}

export async function writeLibsvmFiles(train: FeatureSet, test: FeatureSet): Promise<LibsvmFiles> {
  const directory = mkdtempSync(join(tmpdir(), 'passeurs-liblinear-'));
  await writeLibsvmFile(train, join(directory, 'train.txt'));
  await writeLibsvmFile(test, join(directory, 'test.txt'));
  return { train, test, directory, remove: () => rmSync(directory, { recursive: true, force: true }) };
}

export interface ReferenceRun {
  readonly model: LinearSvmModel;
  /** liblinear-predict's predicted labels on the test set. */
  readonly predictions: Uint8Array;
  /** Each "Objective value = ..." line liblinear-train printed (-s 1 only). */
  readonly printedObjectives: number[];
  /** Iterations of each binary problem, in the order liblinear-train solved them (-s 1: dual passes, -s 2: Newton steps). */
  readonly iterations: number[];
  readonly output: string;
}

function iterationsPrinted(output: string): number[] {
  const dualPasses = [...output.matchAll(/#iter = (\d+)/g)].map((match) => Number(match[1]));
  if (dualPasses.length > 0) return dualPasses;
  // TRON prints one "iter N ..." line per step, starting again at 1 for each binary problem.
  const newtonSteps: number[] = [];
  for (const match of output.matchAll(/^iter\s+(\d+)/gm)) {
    const step = Number(match[1]);
    if (step === 1) newtonSteps.push(step);
    else newtonSteps[newtonSteps.length - 1] = step;
  }
  return newtonSteps;
}

/** `liblinear-train <options>` on the train file, then `liblinear-predict` on the test file. */
export function runLiblinear(files: LibsvmFiles, options: string[]): ReferenceRun {
  const at = (name: string) => join(files.directory, name);
  const modelFile = at(`model${options.join('')}.txt`);
  const predictionFile = at(`predictions${options.join('')}.txt`);
  const output = execFileSync('liblinear-train', [...options, at('train.txt'), modelFile], { encoding: 'utf8', maxBuffer: 1 << 26 });
  execFileSync('liblinear-predict', [at('test.txt'), modelFile, predictionFile], { encoding: 'utf8' });
  const model = readLiblinearModel(readFileSync(modelFile, 'utf8'), { classes: files.train.classes, dimension: files.train.dimension });
  const predictions = Uint8Array.from(readFileSync(predictionFile, 'utf8').trim().split('\n'), Number);
  const printedObjectives = [...output.matchAll(/Objective value = (\S+)/g)].map((match) => Number(match[1]));
  return { model, predictions, printedObjectives, iterations: iterationsPrinted(output), output };
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
