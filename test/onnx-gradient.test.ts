// The compiled ONNX graphs against an independent float64 reference: features directly, input
// gradients through central finite differences of the reference loss.

import { describe, expect, test } from 'vitest';
import type { BackboneDescription } from '../numerics/backbones/description.js';
import { loadMobileNet } from '../numerics/backbones/mobilenet.js';
import { randomVgg16 } from '../numerics/backbones/vgg16.js';
import { seededUniform } from '../numerics/random.js';
import type { LinearHead } from '../numerics/engines/engine.js';
import { OnnxEngine } from '../numerics/engines/onnx-engine.js';
import { bilinearResizeMatrix } from '../numerics/image/resize.js';
import { referenceFeatures, referenceLoss } from './support/reference-network.js';
import { MODELS, testImage32 } from './support/test-images.js';

function randomHead(classes: number, dimension: number, seed: number, scale: number): LinearHead {
  const uniform = seededUniform(seed);
  return {
    classes,
    dimension,
    weights: Float32Array.from({ length: classes * dimension }, () => (2 * uniform() - 1) * scale),
    bias: Float32Array.from({ length: classes }, () => 2 * uniform() - 1),
  };
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function maxAbs(a: ArrayLike<number>): number {
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i]));
  return largest;
}

function norm(a: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * a[i];
  return Math.sqrt(sum);
}

interface GradientCase {
  readonly backbone: BackboneDescription;
  readonly images: Uint8Array[];
  readonly labels: Uint8Array;
  readonly side: number;
  readonly inputSize: number;
  readonly featureLayer: string;
  readonly headScale: number;
  /** The loss under test: cross-entropy of a random head (default), minus a second head's, or a squared distance to targets. */
  readonly loss?: 'cross-entropy' | 'difference' | 'distance';
}

function crossEntropy(features: ArrayLike<number>, label: number, head: LinearHead): number {
  const logits = Array.from({ length: head.classes }, (_, k) => {
    let sum = head.bias[k];
    for (let d = 0; d < head.dimension; d++) sum += head.weights[k * head.dimension + d] * features[d];
    return sum;
  });
  const max = Math.max(...logits);
  return max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0)) - logits[label];
}

/**
 * Checks the engine's gradient g of the summed loss with central differences of the float64
 * reference loss: along g itself (must give |g|) and along single pixels (the 8 largest |g|
 * and 8 spread over the images). Returns the worst relative errors.
 */
async function checkGradient(c: GradientCase): Promise<{ alongGradient: number; perPixel: number }> {
  const count = c.images.length;
  const pixelsPerImage = c.side * c.side * 3;
  const engine = new OnnxEngine(c.backbone, { imageSize: c.side, inputSize: c.inputSize, featureLayer: c.featureLayer, threads: 2, batchSize: 2 });
  const head = randomHead(10, engine.dimension, 7, c.headScale);
  const subtracted = randomHead(10, engine.dimension, 8, c.headScale);
  const pixels = new Uint8Array(count * pixelsPerImage);
  c.images.forEach((image, i) => pixels.set(image, i * pixelsPerImage));
  const features = (image: ArrayLike<number>) => referenceFeatures(c.backbone, image, c.side, c.inputSize, c.featureLayer);
  // Targets: the images' own features, each moved by a random amount of its own size.
  const noise = seededUniform(9);
  const targets = Float32Array.from(c.images.flatMap((image) => Array.from(features(image), (value) => value + (2 * noise() - 1) * (Math.abs(value) + 0.1))));
  const loss = c.loss ?? 'cross-entropy';
  const { gradient, losses } =
    loss === 'distance'
      ? await engine.distanceGradient(pixels, targets, count)
      : await engine.lossGradient(pixels, c.labels, count, head, loss === 'difference' ? subtracted : undefined);
  await engine.dispose();

  const imageLoss = (image: number, move: (pixel: number) => number): number => {
    const moved = Float64Array.from(c.images[image], (value, p) => value + move(p));
    if (loss === 'cross-entropy') return referenceLoss(c.backbone, [moved], [c.labels[image]], c.side, c.inputSize, c.featureLayer, head);
    const f = features(moved);
    if (loss === 'difference') return crossEntropy(f, c.labels[image], head) - crossEntropy(f, c.labels[image], subtracted);
    let sum = 0;
    for (let d = 0; d < f.length; d++) sum += (f[d] - targets[image * f.length + d]) ** 2;
    return sum;
  };
  const referenceLosses = c.images.map((_, i) => imageLoss(i, () => 0));
  expect(maxAbsDifference(losses, referenceLosses)).toBeLessThan(1e-4 * Math.max(1, maxAbs(referenceLosses)));

  // Small enough that no ReLU/ReLU6 kink lies within a step of these images (1e-2 is not).
  const step = 1e-3;
  const gradientNorm = norm(gradient);
  expect(gradientNorm).toBeGreaterThan(0);
  const totalLoss = (sign: number) =>
    c.images.reduce((sum, _, i) => sum + imageLoss(i, (p) => (sign * step * gradient[i * pixelsPerImage + p]) / gradientNorm), 0);
  const alongGradient = (totalLoss(1) - totalLoss(-1)) / (2 * step);

  const byMagnitude = [...gradient.keys()].sort((a, b) => Math.abs(gradient[b]) - Math.abs(gradient[a]));
  const spread = Array.from({ length: 8 }, (_, k) => Math.floor(((k + 0.5) * gradient.length) / 8));
  let perPixel = 0;
  for (const pixel of [...byMagnitude.slice(0, 8), ...spread]) {
    const image = Math.floor(pixel / pixelsPerImage);
    const within = pixel % pixelsPerImage;
    const difference = (imageLoss(image, (p) => (p === within ? step : 0)) - imageLoss(image, (p) => (p === within ? -step : 0))) / (2 * step);
    perPixel = Math.max(perPixel, Math.abs(difference - gradient[pixel]) / maxAbs(gradient));
  }
  return { alongGradient: Math.abs(alongGradient - gradientNorm) / gradientNorm, perPixel };
}

describe('bilinear resize matrix (half-pixel centres)', () => {
  test('matches align_corners=False values', () => {
    expect(Array.from(bilinearResizeMatrix(2, 4))).toEqual([1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1]);
    expect(Array.from(bilinearResizeMatrix(4, 2))).toEqual([0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5]);
  });
});

describe('MobileNet (real weights) on real images', () => {
  const images = [testImage32('parrot'), testImage32('bird')];

  test.each([
    ['conv_pw_7_relu', 64],
    ['global_average_pooling2d_1', 64],
    ['conv_pw_13_relu', 32],
  ])('features of %s at input %i match the float64 reference', async (featureLayer, inputSize) => {
    const backbone = await loadMobileNet(MODELS);
    const engine = new OnnxEngine(backbone, { inputSize, featureLayer, threads: 2, batchSize: 1 });
    const pixels = new Uint8Array([...images[0], ...images[1]]);
    const features = await engine.features(pixels, 2);
    expect(await engine.features(pixels, 2)).toEqual(features);
    await engine.dispose();
    const reference = images.flatMap((image) => Array.from(referenceFeatures(backbone, image, 32, inputSize, featureLayer)));
    expect(maxAbs(reference)).toBeGreaterThan(0.1);
    expect(maxAbsDifference(features, reference) / maxAbs(reference)).toBeLessThan(1e-5);
  });

  test('input gradient through the upsampling, depthwise stride-2 and ReLU6 layers matches finite differences', async () => {
    const errors = await checkGradient({
      backbone: await loadMobileNet(MODELS),
      images,
      labels: Uint8Array.of(3, 8),
      side: 32,
      inputSize: 64,
      featureLayer: 'conv_pw_7_relu',
      headScale: 0.05,
    });
    expect(errors.alongGradient).toBeLessThan(1e-4);
    expect(errors.perPixel).toBeLessThan(1e-4);
  });
});

describe('the attack losses (MobileNet, real weights, main setting conv_pw_5_relu at input 32)', () => {
  test.each(['difference', 'distance'] as const)('input gradient of the %s loss matches finite differences', async (loss) => {
    const errors = await checkGradient({
      backbone: await loadMobileNet(MODELS),
      images: [testImage32('parrot'), testImage32('hot_dog')],
      labels: Uint8Array.of(3, 8),
      side: 32,
      inputSize: 32,
      featureLayer: 'conv_pw_5_relu',
      headScale: 0.05,
      loss,
    });
    console.log(`${loss} loss vs finite differences: along the gradient ${errors.alongGradient.toExponential(2)}, per pixel ${errors.perPixel.toExponential(2)}`);
    expect(errors.alongGradient).toBeLessThan(1e-4);
    expect(errors.perPixel).toBeLessThan(1e-4);
  });
});

describe('VGG16-conv4_1 with generated weights', () => {
  test('gives 8192 features at 32x32 matching the reference, and the same weights for the same seed', async () => {
    const backbone = randomVgg16(1);
    expect(randomVgg16(1).layers[0]).toEqual(backbone.layers[0]);
    const engine = new OnnxEngine(backbone, { inputSize: 32, featureLayer: 'conv4_1', threads: 2, batchSize: 1 });
    expect(engine.dimension).toBe(8192);
    const image = testImage32('hot_dog');
    const features = await engine.features(image, 1);
    await engine.dispose();
    const reference = referenceFeatures(backbone, image, 32, 32, 'conv4_1');
    expect(maxAbs(reference)).toBeGreaterThan(0.1);
    expect(maxAbsDifference(features, reference) / maxAbs(reference)).toBeLessThan(1e-5);
  });

  test('input gradient through convolutions, max pools and ReLUs matches finite differences (16x16 images)', async () => {
    // Real images with a little deterministic noise: flat regions would tie in the max pools,
    // where the loss is not differentiable and finite differences depend on the direction.
    const noise = seededUniform(5);
    const images = [testImage32('parrot'), testImage32('hot_dog')].map((image) =>
      image
        .filter((_, p) => Math.floor(p / 3) % 2 === 0 && Math.floor(p / 96) % 2 === 0)
        .map((value) => Math.round(value * 0.9 + 12 + 16 * (noise() - 0.5))),
    );
    expect(images[0].length).toBe(16 * 16 * 3);
    const errors = await checkGradient({ backbone: randomVgg16(2), images, labels: Uint8Array.of(1, 4), side: 16, inputSize: 16, featureLayer: 'conv4_1', headScale: 0.5 });
    expect(errors.alongGradient).toBeLessThan(1e-4);
    expect(errors.perPixel).toBeLessThan(1e-4);
  });
});

describe('max-pool gradient', () => {
  test('goes to the first maximum of each window when several are equal', async () => {
    const backbone: BackboneDescription = {
      name: 'pool only',
      input: { channelOrder: 'rgb', scale: [1, 1, 1], offset: [0, 0, 0] },
      layers: [{ kind: 'maxPool2d', name: 'pool', poolSize: [2, 2], strides: [2, 2], padding: 'valid' }],
    };
    const engine = new OnnxEngine(backbone, { imageSize: 2, inputSize: 2, featureLayer: 'pool', threads: 1, batchSize: 1 });
    const head: LinearHead = { classes: 2, dimension: 3, weights: Float32Array.of(1, 2, 3, 0, 0, 0), bias: new Float32Array(2) };
    // One 2x2 window per channel, pixels in HWC order: channel 0 peaks at pixel 3, channel 1
    // ties at pixels 1 and 2, channel 2 ties everywhere.
    const pixels = Uint8Array.of(1, 1, 7, 2, 5, 7, 3, 5, 7, 9, 2, 7);
    const { gradient } = await engine.lossGradient(pixels, Uint8Array.of(1), 1, head);
    await engine.dispose();
    const nonzero = [...gradient].flatMap((g, i) => (g !== 0 ? [i] : []));
    expect(nonzero).toEqual([1 * 3 + 1, 0 * 3 + 2, 3 * 3 + 0].sort((a, b) => a - b));
  });
});
