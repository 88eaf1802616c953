// The onnx engine with two threads is a pool of single-threaded sessions on worker threads. It
// must give the bytes a single in-process session gives, whichever worker takes a batch and
// however the callers' calls interleave; a worker's error must reach the caller as an Error.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadMobileNet } from '../numerics/backbones/mobilenet.js';
import type { BackboneDescription } from '../numerics/backbones/description.js';
import type { FeatureEngine, LinearHead } from '../numerics/engines/engine.js';
import { createEngine } from '../numerics/engines/index.js';
import { OnnxEngine } from '../numerics/engines/onnx-engine.js';
import { seededUniform } from '../numerics/random.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';
import type { ImageSet } from '../data/tables.js';

const MODELS = join(import.meta.dirname, '..', 'models');
/** 250 images in batches of 100: two full batches and a partial one, spread over two workers. */
const IMAGES = 250;
const SETTING = { inputSize: 32, featureLayer: 'conv_pw_5_relu', batchSize: 100 };

const digest = (values: Float32Array) => createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');

function randomHead(dimension: number, seed: number): LinearHead {
  const uniform = seededUniform(seed);
  return {
    classes: 10,
    dimension,
    weights: Float32Array.from({ length: 10 * dimension }, () => (2 * uniform() - 1) * 0.01),
    bias: Float32Array.from({ length: 10 }, () => 2 * uniform() - 1),
  };
}

/** Every output of the engine on the images, as digests; `interleaved`: the three gradients asked at once. */
async function outputs(engine: FeatureEngine, images: ImageSet, interleaved: boolean): Promise<Record<string, string>> {
  const pixels = images.pixels.subarray(0, IMAGES * 3072);
  const labels = images.labels.subarray(0, IMAGES);
  const head = randomHead(engine.dimension, 1);
  const fair = randomHead(engine.dimension, 2);
  const features = await engine.features(pixels, IMAGES);
  const targets = features.map((value, i) => value + (i % 7) * 0.01);
  const calls = [
    () => engine.lossGradient(pixels, labels, IMAGES, head),
    () => engine.lossGradient(pixels, labels, IMAGES, head, fair, 0.25),
    () => engine.distanceGradient(pixels, targets, IMAGES),
  ];
  const [plain, difference, distance] = interleaved ? await Promise.all(calls.map((call) => call())) : [await calls[0](), await calls[1](), await calls[2]()];
  return {
    features: digest(features),
    plain: digest(plain.gradient) + digest(plain.losses),
    difference: digest(difference.gradient) + digest(difference.losses),
    distance: digest(distance.gradient) + digest(distance.losses),
  };
}

describe('onnx engine on a pool of worker threads', () => {
  let backbone: BackboneDescription;
  let images: ImageSet;
  let pool: FeatureEngine;

  beforeAll(async () => {
    backbone = await loadMobileNet(MODELS);
    images = loadMiniCifar().train;
    expect(images.count).toBeGreaterThanOrEqual(IMAGES);
    pool = await createEngine('onnx', backbone, { ...SETTING, threads: 2 });
  });
  afterAll(async () => {
    await pool?.dispose();
  });

  test('gives the bytes of one in-process session, with calls interleaved', async () => {
    expect(pool).not.toBeInstanceOf(OnnxEngine);
    const single = new OnnxEngine(backbone, { ...SETTING, threads: 1 });
    try {
      // One in-process session serves one call at a time (it swaps its gradient graph per loss).
      const expected = await outputs(single, images, false);
      expect(pool.dimension).toBe(single.dimension);
      expect(await outputs(pool, images, true)).toEqual(expected);
    } finally {
      await single.dispose();
    }
  });

  test("a worker's error reaches the caller, and the pool keeps working", async () => {
    const pixels = images.pixels.subarray(0, 3 * 3072);
    const badLabels = Uint8Array.of(0, 12, 1);
    await expect(pool.lossGradient(pixels, badLabels, 3, randomHead(pool.dimension, 3))).rejects.toThrow(/label 12 of image 1 is outside the head's 10 classes/);
    expect((await pool.features(pixels, 3)).length).toBe(3 * pool.dimension);
  });

  test('after dispose, its workers are gone and a call fails', async () => {
    const short = await createEngine('onnx', backbone, { ...SETTING, threads: 2 });
    await short.dispose();
    await expect(short.features(images.pixels.subarray(0, 3072), 1)).rejects.toThrow(/engine worker exited/);
  });
});
