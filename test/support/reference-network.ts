// A slow, plain float64 forward pass of a backbone description (HWC loops, batch normalization
// not folded, no ONNX): the independent reference for the compiled graphs' features, and,
// through finite differences, for their hand-built gradients.

import { layersUpTo, paddingAlong, type BackboneDescription, type Shape } from '../../numerics/backbones/description.js';
import { bilinearResizeMatrix } from '../../numerics/image/resize.js';

type Activation = { values: Float64Array; shape: Shape };

function resize(image: Activation, to: number): Activation {
  const [from, , channels] = image.shape;
  const matrix = bilinearResizeMatrix(from, to);
  const values = new Float64Array(to * to * channels);
  for (let y = 0; y < to; y++)
    for (let x = 0; x < to; x++)
      for (let sy = 0; sy < from; sy++) {
        const wy = matrix[y * from + sy];
        if (wy === 0) continue;
        for (let sx = 0; sx < from; sx++) {
          const w = wy * matrix[x * from + sx];
          if (w === 0) continue;
          for (let c = 0; c < channels; c++) values[(y * to + x) * channels + c] += w * image.values[(sy * from + sx) * channels + c];
        }
      }
  return { values, shape: [to, to, channels] };
}

/** A window operation over a zero-padded (or, for pooling, -infinity-padded) input. */
function windows(
  input: Activation,
  output: Shape,
  kernel: readonly [number, number],
  strides: readonly [number, number],
  padding: 'same' | 'valid',
  visit: (outIndex: number, inIndex: number, ky: number, kx: number) => void,
): void {
  const [height, width, channels] = input.shape;
  const [top] = paddingAlong(height, kernel[0], strides[0], padding);
  const [left] = paddingAlong(width, kernel[1], strides[1], padding);
  for (let oy = 0; oy < output[0]; oy++)
    for (let ox = 0; ox < output[1]; ox++)
      for (let ky = 0; ky < kernel[0]; ky++)
        for (let kx = 0; kx < kernel[1]; kx++) {
          const iy = oy * strides[0] + ky - top;
          const ix = ox * strides[1] + kx - left;
          if (iy < 0 || iy >= height || ix < 0 || ix >= width) continue;
          visit((oy * output[1] + ox) * output[2], (iy * width + ix) * channels, ky, kx);
        }
}

/** Features of one image given as float pixels (side x side x 3, HWC, 0..255 scale). */
export function referenceFeatures(backbone: BackboneDescription, pixels: ArrayLike<number>, side: number, inputSize: number, featureLayer: string): Float64Array {
  let current: Activation = { values: Float64Array.from(pixels), shape: [side, side, 3] };
  if (inputSize !== side) current = resize(current, inputSize);
  const { channelOrder, scale, offset } = backbone.input;
  const scaled = new Float64Array(current.values.length);
  for (let p = 0; p < scaled.length / 3; p++)
    for (let c = 0; c < 3; c++) {
      const source = channelOrder === 'bgr' ? 2 - c : c;
      scaled[p * 3 + c] = current.values[p * 3 + source] * scale[c] + offset[c];
    }
  current = { values: scaled, shape: current.shape };

  for (const { layer, output } of layersUpTo(backbone, featureLayer, inputSize)) {
    const values = new Float64Array(output[0] * output[1] * output[2]);
    const input = current.values;
    const inChannels = current.shape[2];
    switch (layer.kind) {
      case 'conv2d': {
        const { kernel, outChannels } = layer;
        windows(current, output, layer.kernelSize, layer.strides, layer.padding, (out, at, ky, kx) => {
          for (let i = 0; i < inChannels; i++) {
            const v = input[at + i];
            const row = ((ky * layer.kernelSize[1] + kx) * inChannels + i) * outChannels;
            for (let o = 0; o < outChannels; o++) values[out + o] += v * kernel[row + o];
          }
        });
        if (layer.bias) for (let p = 0; p < values.length; p++) values[p] += layer.bias[p % outChannels];
        break;
      }
      case 'depthwiseConv2d': {
        windows(current, output, layer.kernelSize, layer.strides, layer.padding, (out, at, ky, kx) => {
          const row = (ky * layer.kernelSize[1] + kx) * inChannels;
          for (let c = 0; c < inChannels; c++) values[out + c] += input[at + c] * layer.kernel[row + c];
        });
        if (layer.bias) for (let p = 0; p < values.length; p++) values[p] += layer.bias[p % inChannels];
        break;
      }
      case 'maxPool2d': {
        values.fill(-Infinity);
        windows(current, output, layer.poolSize, layer.strides, layer.padding, (out, at) => {
          for (let c = 0; c < inChannels; c++) values[out + c] = Math.max(values[out + c], input[at + c]);
        });
        break;
      }
      case 'batchNorm':
        for (let p = 0; p < values.length; p++) {
          const c = p % inChannels;
          values[p] = ((input[p] - layer.mean[c]) / Math.sqrt(layer.variance[c] + layer.epsilon)) * layer.gamma[c] + layer.beta[c];
        }
        break;
      case 'relu':
        for (let p = 0; p < values.length; p++) values[p] = Math.max(input[p], 0);
        break;
      case 'relu6':
        for (let p = 0; p < values.length; p++) values[p] = Math.min(Math.max(input[p], 0), 6);
        break;
      case 'zeroPadding2d': {
        const [top, , left] = layer.pads;
        const [height, width] = current.shape;
        for (let y = 0; y < height; y++)
          for (let x = 0; x < width; x++)
            for (let c = 0; c < inChannels; c++) values[((y + top) * output[1] + x + left) * inChannels + c] = input[(y * width + x) * inChannels + c];
        break;
      }
      case 'globalAveragePool': {
        const pixelsCount = input.length / inChannels;
        for (let p = 0; p < input.length; p++) values[p % inChannels] += input[p] / pixelsCount;
        break;
      }
      case 'softmax':
      case 'flatten':
      case 'dropout':
      case 'reshape':
        if (layer.kind === 'softmax') throw new Error('the reference network has no softmax');
        values.set(input);
        break;
    }
    current = { values, shape: output };
  }
  return current.values;
}

/** Softmax cross-entropy of a linear head on the reference features, summed over images. */
export function referenceLoss(
  backbone: BackboneDescription,
  images: readonly ArrayLike<number>[],
  labels: ArrayLike<number>,
  side: number,
  inputSize: number,
  featureLayer: string,
  head: { classes: number; dimension: number; weights: Float32Array; bias: Float32Array },
): number {
  let total = 0;
  images.forEach((pixels, image) => {
    const features = referenceFeatures(backbone, pixels, side, inputSize, featureLayer);
    const logits = Array.from({ length: head.classes }, (_, k) => {
      let sum = head.bias[k];
      for (let d = 0; d < head.dimension; d++) sum += head.weights[k * head.dimension + d] * features[d];
      return sum;
    });
    const max = Math.max(...logits);
    const logSum = max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
    total += logSum - logits[labels[image]];
  });
  return total;
}
