// The tfjs engine's own pieces: the wasm gradient kernels against tfjs's reference (cpu)
// kernels and against the forward ops they differentiate, and a user's tfjs layers model.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackboneDescription } from '../numerics/backbones/description.js';
import { createEngine } from '../numerics/engines/index.js';
import { startTfjs } from '../numerics/engines/tfjs-backend.js';
import { createTfjsLayersEngine, TfjsEngine } from '../numerics/engines/tfjs-engine.js';
import { bilinearResizeMatrix } from '../numerics/image/resize.js';

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
}

function randomValues(size: number, random: () => number): Float32Array {
  return Float32Array.from({ length: size }, random);
}

function maxRelativeDifference(actual: Float32Array, expected: Float32Array): number {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return difference / scale;
}

/** The gradient of sum(op(x) * weights) with respect to x, on the given backend. */
async function gradientOn(
  backend: string,
  op: (x: tf.Tensor4D) => tf.Tensor,
  x: Float32Array,
  shape: number[],
  random: () => number,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  // Recycled memory full of non-zeros catches kernels that leave parts of their output unwritten.
  tf.fill([4, ...shape], 7).dispose();
  return tf.tidy(() => {
    const input = tf.tensor(x, shape) as tf.Tensor4D;
    const outputShape = op(input).shape;
    const weights = tf.tensor(randomValues(outputShape.reduce((a, b) => a * b, 1), random), outputShape);
    return tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(op(v), weights)))(input).dataSync() as Float32Array;
  });
}

describe('tfjs wasm gradient kernels', () => {
  beforeAll(async () => {
    expect(await startTfjs('wasm')).toBe('wasm');
  });
  afterAll(async () => {
    await tf.setBackend('wasm');
  });

  const cases: { name: string; size: number; kernel: number; stride: number; padding: 'same' | 'valid' }[] = [
    { name: '3x3 stride 1 same', size: 8, kernel: 3, stride: 1, padding: 'same' },
    { name: '3x3 stride 2 same, even input', size: 8, kernel: 3, stride: 2, padding: 'same' },
    { name: '3x3 stride 2 same, odd input', size: 7, kernel: 3, stride: 2, padding: 'same' },
    { name: '3x3 stride 2 valid, odd input', size: 9, kernel: 3, stride: 2, padding: 'valid' },
    { name: '1x1 stride 1', size: 5, kernel: 1, stride: 1, padding: 'same' },
    { name: '2x2 stride 1 same', size: 6, kernel: 2, stride: 1, padding: 'same' },
    { name: '2x2 stride 2 valid', size: 8, kernel: 2, stride: 2, padding: 'valid' },
    { name: '2x2 stride 2 valid, odd input', size: 9, kernel: 2, stride: 2, padding: 'valid' },
  ];

  for (const { name, size, kernel, stride, padding } of cases) {
    it(`conv2d and depthwise input gradients match the cpu kernels: ${name}`, async () => {
      const random = seeded(size * 31 + kernel * 7 + stride);
      const shape: [number, number, number, number] = [2, size, size, 4];
      const x = randomValues(2 * size * size * 4, random);
      const convFilter = randomValues(kernel * kernel * 4 * 5, random);
      const depthFilter = randomValues(kernel * kernel * 4 * 2, random);
      const conv = (v: tf.Tensor4D) => tf.conv2d(v, tf.tensor4d(convFilter, [kernel, kernel, 4, 5]), stride, padding);
      const depthwise = (v: tf.Tensor4D) => tf.depthwiseConv2d(v, tf.tensor4d(depthFilter.subarray(0, kernel * kernel * 4), [kernel, kernel, 4, 1]), stride, padding);
      const depthwiseTwice = (v: tf.Tensor4D) => tf.depthwiseConv2d(v, tf.tensor4d(depthFilter, [kernel, kernel, 4, 2]), stride, padding);
      for (const op of [conv, depthwise, depthwiseTwice]) {
        const wasm = await gradientOn('wasm', op, x, shape, seeded(5));
        const cpu = await gradientOn('cpu', op, x, shape, seeded(5));
        expect(maxRelativeDifference(wasm, cpu)).toBeLessThan(1e-6);
      }
    });

    it(`conv2d filter gradients match the cpu kernels: ${name}`, async () => {
      const random = seeded(size * 17 + kernel * 5 + stride);
      const x = tf.tensor4d(randomValues(2 * size * size * 4, random), [2, size, size, 4]);
      const filterShape = [kernel, kernel, 4, 5];
      const filter = randomValues(kernel * kernel * 20, random);
      const convolveX = (w: tf.Tensor4D) => tf.conv2d(x, w, stride, padding);
      const wasm = await gradientOn('wasm', convolveX, filter, filterShape, seeded(6));
      const cpu = await gradientOn('cpu', convolveX, filter, filterShape, seeded(6));
      expect(maxRelativeDifference(wasm, cpu)).toBeLessThan(1e-6);
      x.dispose();
    });

    it(`max-pool gradients (negative and tied values) match the cpu kernels: ${name}`, async () => {
      const random = seeded(size * 13 + kernel * 3 + stride);
      const shape = [3, size, size, 4];
      // Rounded values: many ties inside windows, and windows of negative values only.
      const x = randomValues(3 * size * size * 4, () => Math.round(4 * random()));
      const pool = (v: tf.Tensor4D) => tf.maxPool(v, kernel, stride, padding);
      const wasm = await gradientOn('wasm', pool, x, shape, seeded(8));
      const cpu = await gradientOn('cpu', pool, x, shape, seeded(8));
      expect(maxRelativeDifference(wasm, cpu)).toBeLessThan(1e-6);
    });
  }

  it('the bilinear matrices reproduce resizeBilinear with half-pixel centres', async () => {
    await tf.setBackend('wasm');
    const random = seeded(11);
    const image = randomValues(5 * 7, random);
    const resized = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(image, [1, 5, 7, 1]), [12, 9], false, true).dataSync() as Float32Array);
    const rows = bilinearResizeMatrix(5, 12);
    const columns = bilinearResizeMatrix(7, 9);
    const byMatrices = new Float32Array(12 * 9);
    for (let i = 0; i < 12; i++)
      for (let j = 0; j < 9; j++)
        for (let p = 0; p < 5; p++) for (let q = 0; q < 7; q++) byMatrices[i * 9 + j] += rows[i * 5 + p] * columns[j * 7 + q] * image[p * 7 + q];
    expect(maxRelativeDifference(byMatrices, resized)).toBeLessThan(1e-6);
  });

  it('the resizeBilinear gradient is the adjoint of the forward resize (half-pixel centres)', async () => {
    await tf.setBackend('wasm');
    const random = seeded(12);
    const x = randomValues(2 * 32 * 32 * 3, random);
    const g = randomValues(2 * 64 * 64 * 3, random);
    const [forwardDot, adjointDot] = tf.tidy(() => {
      const input = tf.tensor4d(x, [2, 32, 32, 3]);
      const upstream = tf.tensor4d(g, [2, 64, 64, 3]);
      const resize = (v: tf.Tensor4D) => tf.image.resizeBilinear(v, [64, 64], false, true);
      const gradient = tf.grad((v: tf.Tensor4D) => tf.sum(tf.mul(resize(v), upstream)))(input);
      return [tf.sum(tf.mul(resize(input), upstream)).dataSync()[0], tf.sum(tf.mul(input, gradient)).dataSync()[0]];
    });
    expect(Math.abs(forwardDot - adjointDot)).toBeLessThan(1e-5 * Math.abs(forwardDot) + 1e-3);
  });
});

describe('tfjs engine on a user tfjs layers model', () => {
  it('cuts a Sequential model (Flatten + Dense head) at the feature layer, at another input size, differentiates it, and frees its tensors', async () => {
    expect(await startTfjs('wasm')).toBe('wasm');
    const random = seeded(21);
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [40, 40, 3], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'first' }),
        tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', name: 'features' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 4, name: 'head' }),
      ],
    });
    const weights = model.getWeights().map((w) => tf.tensor(randomValues(w.size, random), w.shape));
    model.setWeights(weights);
    const directory = mkdtempSync(join(tmpdir(), 'tfjs-layers-'));
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        writeFileSync(join(directory, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
        const manifest = [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }];
        writeFileSync(join(directory, 'model.json'), JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: manifest }));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const [kernel, bias, depthwise, depthwiseBias] = weights;
    model.dispose();

    const scaling = { channelOrder: 'bgr', scale: [0.01, 0.02, 0.03], offset: [-1, 0, 1] } as const;
    const tensorsBefore = tf.memory().numTensors;
    const engine = await createTfjsLayersEngine(directory, scaling, { featureLayer: 'features', inputSize: 32, threads: 1, batchSize: 2, backend: 'wasm' });
    expect(engine.dimension).toBe(8 * 8 * 6);
    const pixels = Uint8Array.from({ length: 3 * 3072 }, () => Math.floor(256 * (random() + 0.5)));
    const reference = (x: tf.Tensor4D) => {
      const scaled = tf.add(tf.mul(tf.reverse(x, 3), [0.01, 0.02, 0.03]), [-1, 0, 1]) as tf.Tensor4D;
      const pooled = tf.maxPool(tf.relu(tf.add(tf.conv2d(scaled, kernel as tf.Tensor4D, 1, 'same'), bias)) as tf.Tensor4D, 2, 2, 'valid');
      return tf.add(tf.depthwiseConv2d(pooled, depthwise as tf.Tensor4D, 2, 'same'), depthwiseBias).reshape([x.shape[0], 8 * 8 * 6]);
    };
    const features = await engine.features(pixels, 3);
    const head = { classes: 3, dimension: engine.dimension, weights: randomValues(3 * engine.dimension, random), bias: randomValues(3, random) };
    const labels = Uint8Array.from([2, 0, 1]);
    const { gradient } = await engine.lossGradient(pixels, labels, 3, head);
    await engine.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    const input = tf.tensor4d(Float32Array.from(pixels), [3, 32, 32, 3]);
    const expected = reference(input).dataSync() as Float32Array;
    expect(maxRelativeDifference(features, expected)).toBeLessThan(1e-6);

    const expectedGradient = tf.grad((x: tf.Tensor4D) => {
      const logits = tf.add(tf.matMul(reference(x), tf.tensor2d(head.weights, [3, engine.dimension]), false, true), head.bias);
      return tf.sum(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(tf.tensor1d(labels, 'int32'), 3).cast('float32')), 1)));
    })(input).dataSync() as Float32Array;
    expect(maxRelativeDifference(gradient, expectedGradient)).toBeLessThan(1e-5);
    rmSync(directory, { recursive: true });
  });
});

describe("createEngine('tfjs')", () => {
  it('builds the tfjs engine for a backbone description', async () => {
    const backbone: BackboneDescription = {
      name: 'tiny',
      input: { channelOrder: 'rgb', scale: [1 / 255, 1 / 255, 1 / 255], offset: [0, 0, 0] },
      layers: [
        { kind: 'conv2d', name: 'conv', kernelSize: [3, 3], inChannels: 3, outChannels: 2, strides: [2, 2], padding: 'same', kernel: randomValues(54, seeded(3)) },
        { kind: 'relu', name: 'conv_relu' },
      ],
    };
    const engine = await createEngine('tfjs', backbone, { featureLayer: 'conv_relu', inputSize: 32, threads: 1, batchSize: 8 });
    expect(engine).toBeInstanceOf(TfjsEngine);
    expect(engine.dimension).toBe(16 * 16 * 2);
    expect((await engine.features(new Uint8Array(2 * 3072).fill(128), 2)).length).toBe(2 * 512);
    await engine.dispose();
  });
});
