// `pipeline export` with a table the format does not write: one line naming the artifact, the
// format and the one that works (the CLI prints SelectionError messages as is, exit 2).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportArtifact } from '../commands/export.js';
import { featureSetToTable, imageSetToTable, type ImageSet } from '../data/tables.js';
import { openCache } from '../pipeline/cache-handle.js';
import { loadPipeline } from '../pipeline/config.js';
import { runPipeline, SelectionError } from '../pipeline/engine.js';
import { defineStage, type AnyStage } from '../pipeline/stage.js';
import { fitReferenceSvmStage } from '../stages/fit-reference-svm.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';
import { temporaryFolder, writeConfig } from './fixtures/pipeline/helpers.js';

/** Three features per image, the mean of each colour plane: a real feature set small enough to fit in milliseconds. */
function channelMeans(set: ImageSet) {
  const features = new Float32Array(set.count * 3);
  for (let image = 0; image < set.count; image++) {
    for (let pixel = 0; pixel < 1024; pixel++) for (let channel = 0; channel < 3; channel++) features[image * 3 + channel]! += set.pixels[image * 3072 + pixel * 3 + channel]! / 1024 / 255;
  }
  return featureSetToTable({ count: set.count, dimension: 3, labels: set.labels, features, classes: set.classes, description: {} });
}
const tinyFeatures = defineStage({
  name: 'channel-means',
  version: 1,
  description: 'colour means of the mini CIFAR-10 fixture',
  params: {},
  inputs: {},
  outputs: {
    train: { kind: 'table', description: 'train features' },
    test: { kind: 'table', description: 'test features' },
    images: { kind: 'table', description: 'the test images' },
  },
  async run() {
    const { train, test } = loadMiniCifar();
    return { train: channelMeans(train), test: channelMeans(test), images: imageSetToTable(test) };
  },
});
const registry: AnyStage[] = [tinyFeatures, fitReferenceSvmStage];

describe('export refuses the wrong kind of table', () => {
  const folder = temporaryFolder();
  const cacheDir = join(folder.path, 'cache');
  const config = writeConfig(
    folder.path,
    'tiny.yaml',
    `stages:
  - { name: features, uses: channel-means }
  - { name: reference, uses: fit-reference-svm, inputs: { train: features.train, test: features.test }, params: { solver: primal-newton } }
`,
  );
  beforeAll(async () => {
    const cache = openCache(cacheDir);
    try {
      expect((await runPipeline(cache, loadPipeline(config, registry))).status).toBe('succeeded');
    } finally {
      cache.close();
    }
  });
  afterAll(() => folder.remove());
  const exporting = (reference: string, format: 'libsvm' | 'liblinear') => exportArtifact({ reference, config, format, out: join(folder.path, 'out'), force: true, cacheDir }, registry);

  it('a model as libsvm features, features as a LIBLINEAR model, images as either', async () => {
    await expect(exporting('reference.fair', 'libsvm')).rejects.toThrow(
      new SelectionError('reference.fair is a model; --format libsvm writes a feature table (e.g. features@split=test.features); for a model use --format liblinear'),
    );
    await expect(exporting('features.test', 'liblinear')).rejects.toThrow(
      new SelectionError('features.test is a feature table; --format liblinear writes a model (e.g. reference.desired); for a feature table use --format libsvm'),
    );
    await expect(exporting('features.images', 'libsvm')).rejects.toThrow(
      /^features\.images is a table of index, label, image; --format libsvm writes a feature table \(e\.g\. features@split=test\.features\); export a feature table \(.*\) or a model \(.*\)$/,
    );
    await expect(exporting('reference.fair', 'liblinear')).resolves.toBeUndefined();
    await expect(exporting('features.test', 'libsvm')).resolves.toBeUndefined();
  });
});
