// FeatureEngine on onnxruntime-node (CPU): the backbone is compiled to ONNX graphs (see
// numerics/onnx/compile.ts). Sessions are created on first use; the gradient session is
// rebuilt only when the head's number of classes changes (head weights are graph inputs).

import * as ort from 'onnxruntime-node';
import type { BackboneDescription } from '../backbones/description.js';
import { compileForward, compileLossGradient, type CompileOptions } from '../onnx/compile.js';
import { featureDimension } from '../backbones/description.js';
import type { EngineOptions, FeatureEngine, LinearHead, LossGradient } from './engine.js';

export interface OnnxEngineOptions extends EngineOptions {
  /** Side of the input images; 32 (CIFAR) unless given. */
  readonly imageSize?: number;
}

function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  };
}

export class OnnxEngine implements FeatureEngine {
  readonly dimension: number;
  private readonly compileOptions: CompileOptions;
  private readonly pixelsPerImage: number;
  private forwardSession?: Promise<ort.InferenceSession>;
  private gradientSession?: { classes: number; session: Promise<ort.InferenceSession> };

  constructor(
    private readonly backbone: BackboneDescription,
    private readonly options: OnnxEngineOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new Error(`batch size must be a positive integer, got ${options.batchSize}`);
    const imageSize = options.imageSize ?? 32;
    this.compileOptions = { imageSize, inputSize: options.inputSize, featureLayer: options.featureLayer };
    this.pixelsPerImage = imageSize * imageSize * 3;
    this.dimension = featureDimension(backbone, options.featureLayer, options.inputSize);
  }

  private forward(): Promise<ort.InferenceSession> {
    this.forwardSession ??= ort.InferenceSession.create(compileForward(this.backbone, this.compileOptions).model, sessionOptions(this.options.threads));
    return this.forwardSession;
  }

  private async gradient(classes: number): Promise<ort.InferenceSession> {
    if (this.gradientSession?.classes !== classes) {
      const previous = this.gradientSession?.session;
      const model = compileLossGradient(this.backbone, this.compileOptions, classes).model;
      this.gradientSession = { classes, session: ort.InferenceSession.create(model, sessionOptions(this.options.threads)) };
      if (previous) await (await previous).release();
    }
    return this.gradientSession.session;
  }

  private checkPixels(pixels: Uint8Array, count: number): void {
    if (pixels.length !== count * this.pixelsPerImage) {
      throw new Error(`${pixels.length} pixel bytes for ${count} images (expected ${count * this.pixelsPerImage})`);
    }
  }

  private pixelTensor(pixels: Uint8Array, start: number, size: number): ort.Tensor {
    const side = this.compileOptions.imageSize;
    return new ort.Tensor('uint8', pixels.subarray(start * this.pixelsPerImage, (start + size) * this.pixelsPerImage), [size, side, side, 3]);
  }

  async features(pixels: Uint8Array, count: number): Promise<Float32Array> {
    this.checkPixels(pixels, count);
    const session = await this.forward();
    const features = new Float32Array(count * this.dimension);
    for (let start = 0; start < count; start += this.options.batchSize) {
      const size = Math.min(this.options.batchSize, count - start);
      const result = await session.run({ pixels: this.pixelTensor(pixels, start, size) });
      features.set(result.features.data as Float32Array, start * this.dimension);
    }
    return features;
  }

  async lossGradient(pixels: Uint8Array, labels: Uint8Array, count: number, head: LinearHead): Promise<LossGradient> {
    this.checkPixels(pixels, count);
    if (labels.length !== count) throw new Error(`${labels.length} labels for ${count} images`);
    if (head.dimension !== this.dimension) throw new Error(`the head takes ${head.dimension} features, the backbone's ${this.options.featureLayer} gives ${this.dimension}`);
    if (head.weights.length !== head.classes * head.dimension || head.bias.length !== head.classes) {
      throw new Error(`head arrays (${head.weights.length} weights, ${head.bias.length} biases) do not match ${head.classes} classes x ${head.dimension}`);
    }
    const session = await this.gradient(head.classes);
    const weights = new ort.Tensor('float32', head.weights, [head.classes, head.dimension]);
    const bias = new ort.Tensor('float32', head.bias, [head.classes]);
    const gradient = new Float32Array(count * this.pixelsPerImage);
    const losses = new Float32Array(count);
    for (let start = 0; start < count; start += this.options.batchSize) {
      const size = Math.min(this.options.batchSize, count - start);
      const oneHot = new Float32Array(size * head.classes);
      for (let i = 0; i < size; i++) {
        const label = labels[start + i];
        if (label >= head.classes) throw new Error(`label ${label} of image ${start + i} is outside the head's ${head.classes} classes`);
        oneHot[i * head.classes + label] = 1;
      }
      const result = await session.run({
        pixels: this.pixelTensor(pixels, start, size),
        one_hot: new ort.Tensor('float32', oneHot, [size, head.classes]),
        head_weights: weights,
        head_bias: bias,
      });
      gradient.set(result.gradient.data as Float32Array, start * this.pixelsPerImage);
      losses.set(result.losses.data as Float32Array, start);
    }
    return { gradient, losses };
  }

  async dispose(): Promise<void> {
    const sessions = [this.forwardSession, this.gradientSession?.session];
    this.forwardSession = undefined;
    this.gradientSession = undefined;
    for (const session of sessions) if (session) await (await session).release();
  }
}
