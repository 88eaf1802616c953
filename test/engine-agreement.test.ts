// The ONNX engine's hand-built graphs against tfjs autodiff, on real CIFAR-10 images: MobileNet
// v1 0.75 with its real ImageNet weights at the main setting (input 64), and VGG16-conv4_1 with
// generated weights at 32. Features, per-image losses and input gradients must agree to 1e-4,
// measured as max|onnx - tfjs| / max|tfjs| over the whole array. The tfjs engine also loads
// MobileNet straight from its tfjs layers files (tfjs's own layers, not the description), which
// must agree with the description compiled to tfjs ops. The attack losses (a difference of two
// heads' cross-entropies, a squared distance to target features) must agree in the same way.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BackboneDescription } from '../numerics/backbones/description.js';
import { loadMobileNet, MINUS_ONE_TO_ONE, MOBILENET_V1_075_224 } from '../numerics/backbones/mobilenet.js';
import { randomVgg16 } from '../numerics/backbones/vgg16.js';
import { seededUniform } from '../numerics/random.js';
import type { EngineOptions, FeatureEngine, LinearHead } from '../numerics/engines/engine.js';
import { OnnxEngine } from '../numerics/engines/onnx-engine.js';
import { createTfjsEngine, createTfjsLayersEngine } from '../numerics/engines/tfjs-engine.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';

const MODELS = join(import.meta.dirname, '..', 'models');
const TOLERANCE = 1e-4;
/** Few images keep the test fast; 6 with batches of 4 also exercises a partial last batch. */
const IMAGES = 6;
const CLASSES = 10;

function relativeError(actual: Float32Array, reference: Float32Array): number {
  expect(actual.length).toBe(reference.length);
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i] - reference[i]));
    scale = Math.max(scale, Math.abs(reference[i]));
  }
  expect(scale).toBeGreaterThan(0);
  return difference / scale;
}

/** A random head whose logits are of order one on these features. */
function headFor(features: Float32Array, dimension: number, seed: number): LinearHead {
  const uniform = seededUniform(seed);
  const rms = Math.sqrt(features.reduce((sum, value) => sum + value * value, 0) / features.length);
  const bound = 3 / (rms * Math.sqrt(dimension));
  return {
    classes: CLASSES,
    dimension,
    weights: Float32Array.from({ length: CLASSES * dimension }, () => (2 * uniform() - 1) * bound),
    bias: Float32Array.from({ length: CLASSES }, () => 2 * uniform() - 1),
  };
}

interface Comparison {
  features: number;
  losses: number;
  gradient: number;
}

async function compare(engine: FeatureEngine, reference: FeatureEngine, pixels: Uint8Array, labels: Uint8Array): Promise<Comparison> {
  expect(engine.dimension).toBe(reference.dimension);
  const referenceFeatures = await reference.features(pixels, IMAGES);
  const head = headFor(referenceFeatures, reference.dimension, 7);
  const referenceGradient = await reference.lossGradient(pixels, labels, IMAGES, head);
  const gradient = await engine.lossGradient(pixels, labels, IMAGES, head);
  return {
    features: relativeError(await engine.features(pixels, IMAGES), referenceFeatures),
    losses: relativeError(gradient.losses, referenceGradient.losses),
    gradient: relativeError(gradient.gradient, referenceGradient.gradient),
  };
}

function expectAgreement(label: string, comparison: Comparison): void {
  console.log(`${label}: max relative error features ${comparison.features.toExponential(2)}, losses ${comparison.losses.toExponential(2)}, input gradient ${comparison.gradient.toExponential(2)}`);
  expect(comparison.features).toBeLessThan(TOLERANCE);
  expect(comparison.losses).toBeLessThan(TOLERANCE);
  expect(comparison.gradient).toBeLessThan(TOLERANCE);
}

describe('ONNX and tfjs engines agree on real CIFAR-10 images', () => {
  let pixels: Uint8Array;
  let labels: Uint8Array;
  let mobileNet: BackboneDescription;

  beforeAll(async () => {
    const { test: images } = loadMiniCifar();
    // One image of each of the first classes: the fixture is sorted by class, 10 per class.
    const picks = Array.from({ length: IMAGES }, (_, i) => i * 10 + i);
    pixels = new Uint8Array(IMAGES * 3072);
    labels = new Uint8Array(IMAGES);
    picks.forEach((index, i) => {
      pixels.set(images.pixels.subarray(index * 3072, (index + 1) * 3072), i * 3072);
      labels[i] = images.labels[index];
    });
    mobileNet = await loadMobileNet(MODELS);
  });

  const engines: FeatureEngine[] = [];
  afterAll(async () => {
    for (const engine of engines) await engine.dispose();
  });
  const options = (featureLayer: string, inputSize: number): EngineOptions => ({ featureLayer, inputSize, threads: 2, batchSize: 4 });
  const open = async <E extends FeatureEngine>(engine: Promise<E> | E): Promise<E> => {
    const opened = await engine;
    engines.push(opened);
    return opened;
  };

  for (const featureLayer of ['conv_pw_7_relu', 'global_average_pooling2d_1']) {
    test(`MobileNet v1 0.75 (ImageNet weights), input 64, ${featureLayer}`, async () => {
      const tfjs = await open(createTfjsEngine(mobileNet, { ...options(featureLayer, 64), backend: 'wasm' }));
      const onnx = await open(new OnnxEngine(mobileNet, options(featureLayer, 64)));
      expectAgreement(`MobileNet ${featureLayer} @64, onnx vs tfjs`, await compare(onnx, tfjs, pixels, labels));

      const layersModel = await open(
        createTfjsLayersEngine(join(MODELS, MOBILENET_V1_075_224), MINUS_ONE_TO_ONE, { ...options(featureLayer, 64), backend: 'wasm' }),
      );
      expectAgreement(`MobileNet ${featureLayer} @64, tfjs layers model vs tfjs description`, await compare(layersModel, tfjs, pixels, labels));
    });
  }

  test('the attack losses: cross-entropy difference of two heads (plain and weighted), squared distance to target features (MobileNet, conv_pw_5_relu, input 32)', async () => {
    const tfjs = await open(createTfjsEngine(mobileNet, { ...options('conv_pw_5_relu', 32), backend: 'wasm' }));
    const onnx = await open(new OnnxEngine(mobileNet, options('conv_pw_5_relu', 32)));
    const features = await tfjs.features(pixels, IMAGES);
    const head = headFor(features, tfjs.dimension, 7);
    const subtracted = headFor(features, tfjs.dimension, 8);
    const difference = [await onnx.lossGradient(pixels, labels, IMAGES, head, subtracted), await tfjs.lossGradient(pixels, labels, IMAGES, head, subtracted)];
    const weighted = [await onnx.lossGradient(pixels, labels, IMAGES, head, subtracted, 0.4), await tfjs.lossGradient(pixels, labels, IMAGES, head, subtracted, 0.4)];
    // Targets: each image's features moved toward the next image's, half way.
    const targets = features.map((value, i) => 0.5 * (value + features[(i + tfjs.dimension) % features.length]));
    const distance = [await onnx.distanceGradient(pixels, targets, IMAGES), await tfjs.distanceGradient(pixels, targets, IMAGES)];
    for (const [label, [fromOnnx, fromTfjs]] of [['difference', difference], ['difference weighted 0.4', weighted], ['distance', distance]] as const) {
      const losses = relativeError(fromOnnx.losses, fromTfjs.losses);
      const gradient = relativeError(fromOnnx.gradient, fromTfjs.gradient);
      console.log(`${label} loss, onnx vs tfjs: max relative error losses ${losses.toExponential(2)}, input gradient ${gradient.toExponential(2)}`);
      expect(losses).toBeLessThan(TOLERANCE);
      expect(gradient).toBeLessThan(TOLERANCE);
    }
  });

  test('VGG16-conv4_1 (generated weights), input 32', async () => {
    const vgg = randomVgg16(1);
    const tfjs = await open(createTfjsEngine(vgg, { ...options('conv4_1', 32), backend: 'wasm' }));
    const onnx = await open(new OnnxEngine(vgg, options('conv4_1', 32)));
    expectAgreement('VGG16 conv4_1 @32, onnx vs tfjs', await compare(onnx, tfjs, pixels, labels));
  });
});
