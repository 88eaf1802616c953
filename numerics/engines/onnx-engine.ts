// FeatureEngine on onnxruntime-node (CPU): the backbone is compiled to ONNX graphs (see
// numerics/onnx/compile.ts). Sessions are created on first use; a gradient session is rebuilt
// only when its loss changes (head weights and targets are graph inputs).
//
// A batch goes through a session in runs of at most SESSION_RUN_IMAGES images, of equal size (a
// batch of 100 as two runs of 50). Each image's features and gradient are the same bits whatever
// the run size (test/onnx-engine-runs.test.ts), so the run size is a matter of speed only: at the
// main setting runs of 50 made a perturbation stage 4-8 % faster than runs of 100 (docs/speed.md,
// *Session 11*), the activations of a smaller run staying in the caches.

import * as ort from 'onnxruntime-node';
import type { BackboneDescription } from '../backbones/description.js';
import { compileDistanceGradient, compileForward, compileLossGradient, type CompileOptions } from '../onnx/compile.js';
import { featureDimension } from '../backbones/description.js';
import { cpuSessionOptions } from '../onnx/session.js';
import { checkPixelCount, type EngineOptions, type FeatureEngine, type LinearHead, type LossGradient } from './engine.js';

export interface OnnxEngineOptions extends EngineOptions {
  /** Side of the input images; 32 (CIFAR) unless given. */
  readonly imageSize?: number;
}

const SESSION_RUN_IMAGES = 64;

/** Images per session run for batches of `batchSize` (`count` images in all): equal runs of at most SESSION_RUN_IMAGES. */
function runSize(count: number, batchSize: number): number {
  const batch = Math.min(count, batchSize);
  return Math.ceil(batch / Math.ceil(batch / SESSION_RUN_IMAGES));
}

export class OnnxEngine implements FeatureEngine {
  readonly dimension: number;
  private readonly compileOptions: CompileOptions;
  private readonly pixelsPerImage: number;
  private forwardSession?: Promise<ort.InferenceSession>;
  /** The last gradient graph, named by its loss (e.g. "cross-entropy 10"). */
  private gradientSession?: { loss: string; session: Promise<ort.InferenceSession> };

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
    this.forwardSession ??= ort.InferenceSession.create(compileForward(this.backbone, this.compileOptions).model, cpuSessionOptions(this.options.threads));
    return this.forwardSession;
  }

  private async gradient(loss: string, compile: () => Uint8Array): Promise<ort.InferenceSession> {
    if (this.gradientSession?.loss !== loss) {
      const previous = this.gradientSession?.session;
      this.gradientSession = { loss, session: ort.InferenceSession.create(compile(), cpuSessionOptions(this.options.threads)) };
      if (previous) await (await previous).release();
    }
    return this.gradientSession.session;
  }

  private checkHead(head: LinearHead): void {
    if (head.dimension !== this.dimension) throw new Error(`the head takes ${head.dimension} features, the backbone's ${this.options.featureLayer} gives ${this.dimension}`);
    if (head.weights.length !== head.classes * head.dimension || head.bias.length !== head.classes) {
      throw new Error(`head arrays (${head.weights.length} weights, ${head.bias.length} biases) do not match ${head.classes} classes x ${head.dimension}`);
    }
  }

  /** Runs a gradient session batch by batch; feeds(start, size) gives the inputs besides the pixels. */
  private async runGradient(session: ort.InferenceSession, pixels: Uint8Array, count: number, feeds: (start: number, size: number) => Record<string, ort.Tensor>): Promise<LossGradient> {
    const gradient = new Float32Array(count * this.pixelsPerImage);
    const losses = new Float32Array(count);
    const run = runSize(count, this.options.batchSize);
    for (let start = 0; start < count; start += run) {
      const size = Math.min(run, count - start);
      const result = await session.run({ pixels: this.pixelTensor(pixels, start, size), ...feeds(start, size) });
      gradient.set(result.gradient.data as Float32Array, start * this.pixelsPerImage);
      losses.set(result.losses.data as Float32Array, start);
    }
    return { gradient, losses };
  }

  private pixelTensor(pixels: Uint8Array, start: number, size: number): ort.Tensor {
    const side = this.compileOptions.imageSize;
    return new ort.Tensor('uint8', pixels.subarray(start * this.pixelsPerImage, (start + size) * this.pixelsPerImage), [size, side, side, 3]);
  }

  async features(pixels: Uint8Array, count: number): Promise<Float32Array> {
    checkPixelCount(pixels, count, this.pixelsPerImage);
    const session = await this.forward();
    const features = new Float32Array(count * this.dimension);
    const run = runSize(count, this.options.batchSize);
    for (let start = 0; start < count; start += run) {
      const size = Math.min(run, count - start);
      const result = await session.run({ pixels: this.pixelTensor(pixels, start, size) });
      features.set(result.features.data as Float32Array, start * this.dimension);
    }
    return features;
  }

  async lossGradient(pixels: Uint8Array, labels: Uint8Array, count: number, head: LinearHead, subtracted?: LinearHead, subtractedWeight = 1): Promise<LossGradient> {
    checkPixelCount(pixels, count, this.pixelsPerImage);
    if (labels.length !== count) throw new Error(`${labels.length} labels for ${count} images`);
    this.checkHead(head);
    if (subtracted) {
      this.checkHead(subtracted);
      if (subtracted.classes !== head.classes) throw new Error(`the subtracted head has ${subtracted.classes} classes, the head ${head.classes}`);
    }
    const classes = head.classes;
    const difference = subtracted !== undefined;
    const session = await this.gradient(`cross-entropy${difference ? ' difference' : ''} ${classes}`, () => compileLossGradient(this.backbone, this.compileOptions, classes, difference).model);
    const headFeeds: Record<string, ort.Tensor> = {
      head_weights: new ort.Tensor('float32', head.weights, [classes, head.dimension]),
      head_bias: new ort.Tensor('float32', head.bias, [classes]),
    };
    if (subtracted) {
      headFeeds.subtracted_weights = new ort.Tensor('float32', subtracted.weights, [classes, subtracted.dimension]);
      headFeeds.subtracted_bias = new ort.Tensor('float32', subtracted.bias, [classes]);
      headFeeds.subtracted_scale = new ort.Tensor('float32', Float32Array.of(subtractedWeight), [1]);
    }
    return this.runGradient(session, pixels, count, (start, size) => {
      const oneHot = new Float32Array(size * classes);
      for (let i = 0; i < size; i++) {
        const label = labels[start + i];
        if (label >= classes) throw new Error(`label ${label} of image ${start + i} is outside the head's ${classes} classes`);
        oneHot[i * classes + label] = 1;
      }
      return { one_hot: new ort.Tensor('float32', oneHot, [size, classes]), ...headFeeds };
    });
  }

  async distanceGradient(pixels: Uint8Array, targets: Float32Array, count: number): Promise<LossGradient> {
    checkPixelCount(pixels, count, this.pixelsPerImage);
    if (targets.length !== count * this.dimension) throw new Error(`${targets.length} target values for ${count} images of ${this.dimension} features`);
    const session = await this.gradient('distance', () => compileDistanceGradient(this.backbone, this.compileOptions).model);
    return this.runGradient(session, pixels, count, (start, size) => ({
      targets: new ort.Tensor('float32', targets.subarray(start * this.dimension, (start + size) * this.dimension), [size, this.dimension]),
    }));
  }

  async dispose(): Promise<void> {
    const sessions = [this.forwardSession, this.gradientSession?.session];
    this.forwardSession = undefined;
    this.gradientSession = undefined;
    for (const session of sessions) if (session) await (await session).release();
  }
}
