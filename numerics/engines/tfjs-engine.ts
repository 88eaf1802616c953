// The tfjs engine: features and input gradients by tfjs autodiff, on @tensorflow/tfjs-node when
// it is installed, else on the wasm backend (with the gradient kernels of tfjs-wasm-kernels.ts).
// It serves users who bring their own tfjs layers model, and it is the independent reference
// for the hand-built backward graphs of the ONNX engine.

import * as tf from '@tensorflow/tfjs';
import type { BackboneDescription, InputScaling } from '../backbones/description.js';
import { checkPixelCount, type EngineOptions, type FeatureEngine, type LinearHead, type LossGradient } from './engine.js';
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
    const values = new Float32Array(pixels.subarray(start * IMAGE_VALUES, (start + size) * IMAGE_VALUES));
    return tf.tensor4d(values, [size, IMAGE_SIDE, IMAGE_SIDE, 3]);
  }

  async features(pixels: Uint8Array, count: number): Promise<Float32Array> {
    checkPixelCount(pixels, count);
    const features = new Float32Array(count * this.dimension);
    for (const { start, size } of this.batches(count)) {
      const batch = tf.tidy(() => this.network.apply(this.pixelTensor(pixels, start, size)));
      features.set(await batch.data<'float32'>(), start * this.dimension);
      batch.dispose();
    }
    return features;
  }

  /** Per-batch autodiff of a per-image loss of the features; tfjs differentiates the losses' sum (dy = ones). */
  private async gradientOf(pixels: Uint8Array, count: number, loss: (features: tf.Tensor2D, start: number, size: number) => tf.Tensor1D): Promise<LossGradient> {
    const gradient = new Float32Array(count * IMAGE_VALUES);
    const losses = new Float32Array(count);
    for (const { start, size } of this.batches(count)) {
      const [batchLosses, batchGradient] = tf.tidy(() => {
        const { value, grad } = tf.valueAndGrad((x: tf.Tensor4D) => loss(this.network.apply(x), start, size))(this.pixelTensor(pixels, start, size));
        return [value, grad];
      });
      losses.set(await batchLosses.data<'float32'>(), start);
      gradient.set(await batchGradient.data<'float32'>(), start * IMAGE_VALUES);
      tf.dispose([batchLosses, batchGradient]);
    }
    return { gradient, losses };
  }

  private checkHead(head: LinearHead): void {
    if (head.dimension !== this.dimension) {
      throw new Error(`tfjs engine: the linear head takes ${head.dimension} features, the backbone gives ${this.dimension}`);
    }
    if (head.weights.length !== head.classes * head.dimension || head.bias.length !== head.classes) {
      throw new Error(`tfjs engine: head arrays (${head.weights.length} weights, ${head.bias.length} biases) do not match ${head.classes} classes x ${head.dimension}`);
    }
  }

  async lossGradient(pixels: Uint8Array, labels: Uint8Array, count: number, head: LinearHead, subtracted?: LinearHead, subtractedWeight = 1): Promise<LossGradient> {
    checkPixelCount(pixels, count);
    if (labels.length !== count) throw new Error(`tfjs engine: ${labels.length} labels for ${count} images`);
    const heads = subtracted ? [head, subtracted] : [head];
    heads.forEach((h) => this.checkHead(h));
    if (subtracted && subtracted.classes !== head.classes) throw new Error(`tfjs engine: the subtracted head has ${subtracted.classes} classes, the head ${head.classes}`);
    const tensors = heads.map((h) => ({ weights: tf.tensor2d(h.weights, [h.classes, h.dimension]), bias: tf.tensor1d(h.bias) }));
    try {
      return await this.gradientOf(pixels, count, (features, start, size) => {
        const oneHot = tf.tensor2d(oneHotLabels(labels.subarray(start, start + size), head.classes), [size, head.classes]);
        const crossEntropy = ({ weights, bias }: (typeof tensors)[number]): tf.Tensor1D => {
          const logits = tf.add(tf.matMul(features, weights, false, true), bias);
          return tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, oneHot), 1));
        };
        return tensors.length === 1 ? crossEntropy(tensors[0]) : tf.sub(crossEntropy(tensors[0]), tf.mul(crossEntropy(tensors[1]), subtractedWeight));
      });
    } finally {
      tf.dispose(tensors.flatMap(({ weights, bias }) => [weights, bias]));
    }
  }

  async distanceGradient(pixels: Uint8Array, targets: Float32Array, count: number): Promise<LossGradient> {
    checkPixelCount(pixels, count);
    if (targets.length !== count * this.dimension) throw new Error(`tfjs engine: ${targets.length} target values for ${count} images of ${this.dimension} features`);
    return this.gradientOf(pixels, count, (features, start, size) => {
      const offset = tf.sub(features, tf.tensor2d(targets.subarray(start * this.dimension, (start + size) * this.dimension), [size, this.dimension]));
      return tf.sum(tf.square(offset), 1);
    });
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
