// The tfjs engine: features and input gradients by tfjs autodiff, on @tensorflow/tfjs-node when
// it is installed, else on the wasm backend (with the gradient kernels of tfjs-wasm-kernels.ts).
// It serves users who bring their own tfjs layers model, and it is the independent reference
// for the hand-built backward graphs of the ONNX engine.

import * as tf from '@tensorflow/tfjs';
import type { BackboneDescription, InputScaling } from '../backbones/description.js';
import type { EngineOptions, FeatureEngine, LinearHead, LossGradient } from './engine.js';
import { startTfjs, type TfjsBackend } from './tfjs-backend.js';
import { loadTfjsLayersNetwork } from './tfjs-layers-model.js';
import { compileBackbone, type TfjsNetwork } from './tfjs-network.js';

const IMAGE_SIDE = 32;
const IMAGE_VALUES = IMAGE_SIDE * IMAGE_SIDE * 3;

export interface TfjsEngineOptions extends EngineOptions {
  /** 'wasm' skips @tensorflow/tfjs-node even where it is installed. */
  readonly backend?: TfjsBackend;
}

export class TfjsEngine implements FeatureEngine {
  readonly dimension: number;

  constructor(
    private readonly network: TfjsNetwork,
    private readonly batchSize: number,
    /** The tfjs backend that runs it. */
    readonly backend: TfjsBackend,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`tfjs engine: batch size must be a positive integer, got ${batchSize}`);
    this.dimension = network.dimension;
  }

  private batches(count: number): { start: number; size: number }[] {
    const batches = [];
    for (let start = 0; start < count; start += this.batchSize) batches.push({ start, size: Math.min(this.batchSize, count - start) });
    return batches;
  }

  private pixelTensor(pixels: Uint8Array, start: number, size: number): tf.Tensor4D {
    const values = Float32Array.from(pixels.subarray(start * IMAGE_VALUES, (start + size) * IMAGE_VALUES));
    return tf.tensor4d(values, [size, IMAGE_SIDE, IMAGE_SIDE, 3]);
  }

  async features(pixels: Uint8Array, count: number): Promise<Float32Array> {
    checkPixels(pixels, count);
    const features = new Float32Array(count * this.dimension);
    for (const { start, size } of this.batches(count)) {
      const batch = tf.tidy(() => this.network.apply(this.pixelTensor(pixels, start, size)));
      features.set(await batch.data<'float32'>(), start * this.dimension);
      batch.dispose();
    }
    return features;
  }

  async lossGradient(pixels: Uint8Array, labels: Uint8Array, count: number, head: LinearHead): Promise<LossGradient> {
    checkPixels(pixels, count);
    if (labels.length !== count) throw new Error(`tfjs engine: ${labels.length} labels for ${count} images`);
    if (head.dimension !== this.dimension) {
      throw new Error(`tfjs engine: the linear head takes ${head.dimension} features, the backbone gives ${this.dimension}`);
    }
    if (head.weights.length !== head.classes * head.dimension || head.bias.length !== head.classes) {
      throw new Error(`tfjs engine: head arrays (${head.weights.length} weights, ${head.bias.length} biases) do not match ${head.classes} classes x ${head.dimension}`);
    }
    const gradient = new Float32Array(count * IMAGE_VALUES);
    const losses = new Float32Array(count);
    const weights = tf.tensor2d(head.weights, [head.classes, head.dimension]);
    const bias = tf.tensor1d(head.bias);
    try {
      for (const { start, size } of this.batches(count)) {
        const [batchLosses, batchGradient] = tf.tidy(() => {
          const oneHot = tf.tensor2d(oneHotLabels(labels.subarray(start, start + size), head.classes), [size, head.classes]);
          // Per-image softmax cross-entropy; tfjs differentiates their sum (dy = ones).
          const lossPerImage = (x: tf.Tensor4D) => {
            const logits = tf.add(tf.matMul(this.network.apply(x), weights, false, true), bias);
            return tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, oneHot), 1));
          };
          const { value, grad } = tf.valueAndGrad(lossPerImage)(this.pixelTensor(pixels, start, size));
          return [value, grad];
        });
        losses.set(await batchLosses.data<'float32'>(), start);
        gradient.set(await batchGradient.data<'float32'>(), start * IMAGE_VALUES);
        tf.dispose([batchLosses, batchGradient]);
      }
    } finally {
      tf.dispose([weights, bias]);
    }
    return { gradient, losses };
  }

  async dispose(): Promise<void> {
    this.network.dispose();
  }
}

function oneHotLabels(labels: Uint8Array, classes: number): Float32Array {
  const oneHot = new Float32Array(labels.length * classes);
  labels.forEach((label, image) => {
    if (label >= classes) throw new Error(`tfjs engine: label ${label} is outside the head's ${classes} classes`);
    oneHot[image * classes + label] = 1;
  });
  return oneHot;
}

function checkPixels(pixels: Uint8Array, count: number): void {
  if (pixels.length !== count * IMAGE_VALUES) {
    throw new Error(`tfjs engine: ${pixels.length} pixel values for ${count} images of 32x32x3 (expected ${count * IMAGE_VALUES})`);
  }
}

/**
 * The tfjs engine for a backbone description (MobileNet, VGG16...). options.threads is not used:
 * the wasm backend runs on one thread under Node, tfjs-node sizes its own thread pool.
 */
export async function createTfjsEngine(backbone: BackboneDescription, options: TfjsEngineOptions): Promise<TfjsEngine> {
  const backend = await startTfjs(options.backend);
  return new TfjsEngine(compileBackbone(backbone, options.featureLayer, options.inputSize), options.batchSize, backend);
}

/** The tfjs engine for any tfjs layers model in a folder (model.json + weight shards). */
export async function createTfjsLayersEngine(
  modelDirectory: string,
  scaling: InputScaling,
  options: TfjsEngineOptions,
): Promise<TfjsEngine> {
  const backend = await startTfjs(options.backend);
  const network = await loadTfjsLayersNetwork(modelDirectory, scaling, options.featureLayer, options.inputSize);
  return new TfjsEngine(network, options.batchSize, backend);
}
