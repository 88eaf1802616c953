// The onnx engine runs a batch through its sessions in pieces of at most 64 images, a choice made
// for speed alone: it is one only if each image's features, gradient and loss are the same bits
// whatever the size of the run that carried it. Real weights and real CIFAR-10 images.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadMobileNet } from '../numerics/backbones/mobilenet.js';
import type { BackboneDescription } from '../numerics/backbones/description.js';
import { OnnxEngine } from '../numerics/engines/onnx-engine.js';
import { seededUniform } from '../numerics/random.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';
import type { ImageSet } from '../data/tables.js';

const MODELS = join(import.meta.dirname, '..', 'models');
const IMAGES = 130;

const digest = (values: Float32Array) => createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');

describe('onnx engine: the size of a session run changes no bit', () => {
  let backbone: BackboneDescription;
  let images: ImageSet;

  beforeAll(async () => {
    backbone = await loadMobileNet(MODELS);
    images = loadMiniCifar().train;
  });

  async function outputs(batchSize: number): Promise<string[]> {
    const engine = new OnnxEngine(backbone, { inputSize: 32, featureLayer: 'conv_pw_5_relu', batchSize, threads: 1 });
    try {
      const pixels = images.pixels.subarray(0, IMAGES * 3072);
      const labels = images.labels.subarray(0, IMAGES);
      const uniform = seededUniform(3);
      const head = {
        classes: 10,
        dimension: engine.dimension,
        weights: Float32Array.from({ length: 10 * engine.dimension }, () => (2 * uniform() - 1) * 0.01),
        bias: Float32Array.from({ length: 10 }, () => 2 * uniform() - 1),
      };
      const features = await engine.features(pixels, IMAGES);
      const { gradient, losses } = await engine.lossGradient(pixels, labels, IMAGES, head);
      return [digest(features), digest(gradient), digest(losses)];
    } finally {
      await engine.dispose();
    }
  }

  // Batches of 130 run as 44 + 44 + 42, of 100 as 50 + 50 (and 30), of 64 as 64 + 64 (and 2), of 9 as 9.
  test('runs of 44, 50, 64 and 9 images give the same features, gradients and losses', async () => {
    const reference = await outputs(130);
    for (const batchSize of [100, 64, 9]) expect(await outputs(batchSize), `batches of ${batchSize}`).toEqual(reference);
  }, 120_000);
});
