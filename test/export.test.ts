// The cross-check path with the real LIBLINEAR: features and models leave the cache in its text
// formats (`pipeline export`), and a model trained by liblinear-train comes back in through the
// import-liblinear-model stage; both must score exactly as liblinear-predict does.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageSetToTable } from '../data/tables.js';
import { openCache } from '../pipeline/cache-handle.js';
import { loadPipeline } from '../pipeline/config.js';
import { runPipeline } from '../pipeline/engine.js';
import { defineStage, type AnyStage } from '../pipeline/stage.js';
import { Workspace } from '../pipeline/workspace.js';
import { exportArtifact } from '../commands/export.js';
import { stages } from '../stages/index.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';

const miniImages = defineStage({
  name: 'mini-images',
  version: 1,
  description: 'The real CIFAR-10 test fixture (30 train, 10 test images per class)',
  params: {},
  inputs: {},
  outputs: { train: { kind: 'table', description: 'train images' }, test: { kind: 'table', description: 'test images' } },
  async run() {
    const { train, test } = loadMiniCifar();
    return { train: imageSetToTable(train), test: imageSetToTable(test) };
  },
});
const registry: AnyStage[] = [...stages, miniImages];

const config = (modelFile: string) => `
stages:
  - name: data
    uses: mini-images
  - name: backbone
    uses: backbone
    inputs: { files: { path: "${resolve('models/mobilenet_v1_0.75_224')}" } }
  - name: features
    uses: featurize
    matrix: { split: [train, test] }
    inputs: { images: "data.\${split}", backbone: backbone.backbone }
    params: { input_size: 64, feature_layer: global_average_pooling2d_1 }
  - name: reference
    uses: fit-reference-svm
    inputs: { train: features@split=train.features, test: features@split=test.features }
    params: { solver: primal-newton }
  - name: ours
    uses: evaluate
    inputs: { model: reference.fair, test: features@split=test.features, train: features@split=train.features }
  - name: liblinear
    uses: import-liblinear-model
    inputs: { file: { path: "${modelFile}" }, features: features@split=train.features }
  - name: theirs
    uses: evaluate
    inputs: { model: liblinear.model, test: features@split=test.features, train: features@split=train.features }
`;

/** liblinear-predict's accuracy and its predicted labels. */
function liblinearPredict(features: string, model: string, out: string): { accuracy: number; predictions: number[] } {
  const printed = execFileSync('liblinear-predict', [features, model, out], { encoding: 'utf8' });
  const accuracy = Number(/Accuracy = ([\d.]+)%/.exec(printed)?.[1]) / 100;
  return { accuracy, predictions: readFileSync(out, 'utf8').trim().split('\n').map(Number) };
}

describe('export to and import from LIBLINEAR', () => {
  let dir: string;
  let configFile: string;
  const cacheDir = () => join(dir, 'cache');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'passeurs-export-'));
    configFile = join(dir, 'export.yaml');
    writeFileSync(configFile, config(join(dir, 'liblinear.model')));
    const cache = openCache(cacheDir());
    try {
      await runPipeline(cache, loadPipeline(configFile, registry), { only: ['ours'] });
    } finally {
      cache.close();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a model exported from the cache predicts under liblinear-predict exactly as evaluate scored it', async () => {
    const train = join(dir, 'train.libsvm');
    const test = join(dir, 'test.libsvm');
    const model = join(dir, 'ours.model');
    await exportArtifact({ reference: 'features@split=train.features', config: configFile, format: 'libsvm', out: train, cacheDir: cacheDir() }, registry);
    await exportArtifact({ reference: 'features@split=test.features', config: configFile, format: 'libsvm', out: test, cacheDir: cacheDir() }, registry);
    await exportArtifact({ reference: 'reference.fair', config: configFile, format: 'liblinear', out: model, cacheDir: cacheDir() }, registry);
    const predicted = liblinearPredict(test, model, join(dir, 'ours.predictions'));
    const workspace = Workspace.open({ config: configFile, stages: registry, cacheDir: cacheDir() });
    try {
      const metrics = await workspace.load<'metrics'>('ours', 'metrics');
      expect(predicted.accuracy).toBeGreaterThan(0.3);
      expect(predicted.accuracy).toBeCloseTo(Number(metrics.accuracy), 10);
    } finally {
      workspace.close();
    }
  });

  it('a model trained by liblinear-train, imported, scores what liblinear-predict says', async () => {
    const train = join(dir, 'train.libsvm');
    const test = join(dir, 'test.libsvm');
    const modelFile = join(dir, 'liblinear.model');
    execFileSync('liblinear-train', ['-s', '2', '-B', '1', '-q', train, modelFile]);
    const predicted = liblinearPredict(test, modelFile, join(dir, 'theirs.predictions'));
    const cache = openCache(cacheDir());
    try {
      await runPipeline(cache, loadPipeline(configFile, registry), { only: ['theirs'] });
    } finally {
      cache.close();
    }
    const workspace = Workspace.open({ config: configFile, stages: registry, cacheDir: cacheDir() });
    try {
      const metrics = await workspace.load<'metrics'>('theirs', 'metrics');
      expect(Number(metrics.accuracy)).toBeCloseTo(predicted.accuracy, 10);
    } finally {
      workspace.close();
    }
  });

  it('refuses a reference that is not instance.output, or not a table', async () => {
    const request = { config: configFile, format: 'libsvm' as const, out: join(dir, 'x'), cacheDir: cacheDir() };
    await expect(exportArtifact({ ...request, reference: 'reference' }, registry)).rejects.toThrow(/not instance.output/);
    await expect(exportArtifact({ ...request, reference: 'ours.metrics' }, registry)).rejects.toThrow(/is a metrics/);
  });
});
