// The contract every compute engine (onnxruntime, tfjs) implements.
//
// Pixels are always the 32x32x3 uint8 HWC images of data/tables.ts. The engine applies the
// backbone's own input scaling and, when inputSize is not 32, a bilinear upsampling with
// half-pixel centres inside the network, so that gradients are with respect to the 0..255
// values of the 32x32 pixels themselves.

import { IMAGE_BYTES } from '../../data/tables.js';

/** A linear classifier on features: logits = weights · features + bias. */
export interface LinearHead {
  readonly classes: number;
  readonly dimension: number;
  /** classes x dimension, row-major. */
  readonly weights: Float32Array;
  /** classes values. */
  readonly bias: Float32Array;
}

export interface LossGradient {
  /** d(sum over images of the loss)/d(pixel value), count * 3072 values in HWC order. */
  readonly gradient: Float32Array;
  /** The loss of each image, count values. */
  readonly losses: Float32Array;
}

export interface FeatureEngine {
  /** Length of one feature vector. */
  readonly dimension: number;
  /** count * 3072 uint8 HWC pixels (0..255) -> count x dimension features, row-major. */
  features(pixels: Uint8Array, count: number): Promise<Float32Array>;
  /**
   * Gradient of the sum over images of softmax cross-entropy(head(features(x)), label) with
   * respect to each 0..255 pixel value, and the per-image losses. With `subtracted`, the loss is
   * that cross-entropy minus `subtractedWeight` times the same cross-entropy of the subtracted head.
   */
  lossGradient(pixels: Uint8Array, labels: Uint8Array, count: number, head: LinearHead, subtracted?: LinearHead, subtractedWeight?: number): Promise<LossGradient>;
  /**
   * Gradient of the sum over images of the squared distance |features(x) - target|^2 with
   * respect to each 0..255 pixel value, and the per-image squared distances. targets: count x dimension.
   */
  distanceGradient(pixels: Uint8Array, targets: Float32Array, count: number): Promise<LossGradient>;
  dispose(): Promise<void>;
}

export interface EngineOptions {
  /** Side the 32x32 images are bilinearly resized to before the backbone (32: no resize). */
  readonly inputSize: number;
  /** Name of the backbone layer whose activations, flattened in HWC order, are the features. */
  readonly featureLayer: string;
  /** Intra-op threads. */
  readonly threads: number;
  /** Images per batch: a pool of threads hands each thread a batch at a time; an engine may run a batch in smaller pieces (onnx: at most 64 images per session run). */
  readonly batchSize: number;
}

/** Throws unless `pixels` holds `count` images of `pixelsPerImage` values (32x32x3 unless given). */
export function checkPixelCount(pixels: Uint8Array, count: number, pixelsPerImage = IMAGE_BYTES): void {
  if (pixels.length !== count * pixelsPerImage) {
    throw new Error(`${pixels.length} pixel bytes for ${count} images (expected ${count * pixelsPerImage})`);
  }
}
