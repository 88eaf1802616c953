// Compiles a backbone description into ONNX graphs:
//   forward:       uint8 pixels [N, S, S, 3] (HWC) -> features [N, D] (the feature layer, HWC-flattened)
//   loss gradient: pixels, one-hot labels [N, K], head weights [K, D] and bias [K] (and
//                  optionally a second head, whose loss is subtracted)
//                  -> losses [N] (softmax cross-entropy) and gradient [N, S, S, 3]
//                     (d sum(losses) / d pixel value)
//   distance gradient: pixels, target features [N, D] -> losses [N] (squared distance) and gradient
// onnxruntime has no automatic differentiation, so every forward step that needs one also
// builds its backward step from forward operators.
//
// Tensors are NCHW inside the graph. Batch normalization directly after a convolution is
// folded into the convolution's weights.

import {
  layersUpTo,
  paddingAlong,
  type BackboneDescription,
  type BatchNormLayer,
  type Conv2dLayer,
  type DepthwiseConv2dLayer,
  type Padding,
  type Shape,
} from '../backbones/description.js';
import { bilinearResizeMatrix } from '../image/resize.js';
import { GraphBuilder } from './builder.js';
import { DataType, encodeModel } from './model.js';

export interface CompileOptions {
  /** Side of the square input images (the pixels). */
  readonly imageSize: number;
  /** Side the images are bilinearly resized to inside the network. */
  readonly inputSize: number;
  readonly featureLayer: string;
}

export interface CompiledGraph {
  readonly model: Uint8Array;
  /** Feature vector length. */
  readonly dimension: number;
}

/** Adds, for a gradient with respect to a step's output, the nodes giving the gradient with respect to its input. */
type Backward = (gradient: string) => string;

interface Forward {
  /** The feature layer's output, NCHW. */
  readonly output: string;
  readonly shape: Shape;
  /** One backward step per forward step, in forward order. */
  readonly backward: Backward[];
}

const BATCH = 'N';

/** Keras HWIO [kh, kw, in, out] to ONNX OIHW [out, in, kh, kw]. */
function convWeightsOihw(layer: Conv2dLayer): Float32Array {
  const [kh, kw] = layer.kernelSize;
  const { inChannels: input, outChannels: out, kernel } = layer;
  const result = new Float32Array(kernel.length);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < input; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) result[((o * input + i) * kh + y) * kw + x] = kernel[((y * kw + x) * input + i) * out + o];
  return result;
}

/** Keras [kh, kw, C] to ONNX grouped-convolution [C, 1, kh, kw]. */
function depthwiseWeights(layer: DepthwiseConv2dLayer): Float32Array {
  const [kh, kw] = layer.kernelSize;
  const channels = layer.channels;
  const result = new Float32Array(layer.kernel.length);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) result[(c * kh + y) * kw + x] = layer.kernel[(y * kw + x) * channels + c];
  return result;
}

/** Per-channel scale and shift of inference batch normalization. */
function batchNormAffine(layer: BatchNormLayer): { scale: Float32Array; shift: Float32Array } {
  const scale = layer.gamma.map((gamma, c) => gamma / Math.sqrt(layer.variance[c] + layer.epsilon));
  const shift = layer.beta.map((beta, c) => beta - layer.mean[c] * scale[c]);
  return { scale, shift };
}

/** The gradient filter of a stride-1 convolution: in and out swapped, rotated by 180 degrees. */
function rotatedFilter(weights: Float32Array, out: number, inPerGroup: number, groups: number, kh: number, kw: number): { values: Float32Array; dims: number[] } {
  const outPerGroup = out / groups;
  const values = new Float32Array(weights.length);
  // Forward weight [out, inPerGroup, kh, kw] becomes [groups * inPerGroup, outPerGroup, kh, kw].
  for (let g = 0; g < groups; g++)
    for (let o = 0; o < outPerGroup; o++)
      for (let i = 0; i < inPerGroup; i++)
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++) {
            const source = (((g * outPerGroup + o) * inPerGroup + i) * kh + y) * kw + x;
            const target = (((g * inPerGroup + i) * outPerGroup + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - x);
            values[target] = weights[source];
          }
  return { values, dims: [groups * inPerGroup, outPerGroup, kh, kw] };
}

interface ConvolutionSpec {
  readonly name: string;
  readonly weights: Float32Array;
  readonly bias: Float32Array | undefined;
  readonly outChannels: number;
  readonly inPerGroup: number;
  readonly groups: number;
  readonly kernelSize: readonly [number, number];
  readonly strides: readonly [number, number];
}

function convolution(builder: GraphBuilder, x: string, spec: ConvolutionSpec, input: Shape, padding: Padding): { y: string; backward: Backward } {
  const [kh, kw] = spec.kernelSize;
  const [sh, sw] = spec.strides;
  const [top, bottom] = paddingAlong(input[0], kh, sh, padding);
  const [left, right] = paddingAlong(input[1], kw, sw, padding);
  const weightDims = [spec.outChannels, spec.inPerGroup, kh, kw];
  const weights = builder.floats(`${spec.name}.weight`, weightDims, spec.weights);
  const inputs = [x, weights];
  if (spec.bias) inputs.push(builder.floats(`${spec.name}.bias`, [spec.outChannels], spec.bias));
  const attributes = { kernel_shape: [kh, kw], strides: [sh, sw], pads: [top, left, bottom, right], group: spec.groups };
  const y = builder.node('Conv', inputs, attributes, spec.name);
  // Input gradient: for stride 1, a convolution with the rotated filter (faster than
  // ConvTranspose here); for larger strides, ConvTranspose with the forward weights (measured
  // faster than inserting zeros into the gradient and convolving).
  const backward: Backward = (gradient) => {
    if (sh === 1 && sw === 1) {
      const rotated = rotatedFilter(spec.weights, spec.outChannels, spec.inPerGroup, spec.groups, kh, kw);
      const filter = builder.floats(`${spec.name}.gradient_filter`, rotated.dims, rotated.values);
      const pads = [kh - 1 - top, kw - 1 - left, kh - 1 - bottom, kw - 1 - right];
      return builder.node('Conv', [gradient, filter], { kernel_shape: [kh, kw], strides: [1, 1], pads, group: spec.groups }, `${spec.name}.backward`);
    }
    const outputHeight = Math.floor((input[0] + top + bottom - kh) / sh) + 1;
    const outputWidth = Math.floor((input[1] + left + right - kw) / sw) + 1;
    const outputPadding = [input[0] - (sh * (outputHeight - 1) + kh - top - bottom), input[1] - (sw * (outputWidth - 1) + kw - left - right)];
    return builder.node(
      'ConvTranspose',
      [gradient, weights],
      { ...attributes, output_padding: outputPadding },
      `${spec.name}.backward`,
    );
  };
  return { y, backward };
}

/** Steps for the layers up to the feature layer, from a float NCHW input at options.inputSize. */
function buildLayers(builder: GraphBuilder, backbone: BackboneDescription, options: CompileOptions, x: string): Forward {
  const layers = layersUpTo(backbone, options.featureLayer, options.inputSize);
  const backward: Backward[] = [];
  let value = x;
  for (let index = 0; index < layers.length; index++) {
    const { layer, input, output } = layers[index];
    const [height, width, channels] = input;
    const next = layers[index + 1]?.layer;
    switch (layer.kind) {
      case 'conv2d':
      case 'depthwiseConv2d': {
        let weights = layer.kind === 'conv2d' ? convWeightsOihw(layer) : depthwiseWeights(layer);
        let bias = layer.bias;
        const outChannels = output[2];
        if (next?.kind === 'batchNorm') {
          const { scale, shift } = batchNormAffine(next);
          const perOutput = weights.length / outChannels;
          weights = weights.map((w, i) => w * scale[Math.floor(i / perOutput)]);
          bias = shift.map((s, c) => s + (bias ? bias[c] * scale[c] : 0));
          index++;
        }
        const isDepthwise = layer.kind === 'depthwiseConv2d';
        const step = convolution(
          builder,
          value,
          {
            name: next?.kind === 'batchNorm' ? next.name : layer.name,
            weights,
            bias,
            outChannels,
            inPerGroup: isDepthwise ? 1 : channels,
            groups: isDepthwise ? channels : 1,
            kernelSize: layer.kernelSize,
            strides: layer.strides,
          },
          input,
          layer.padding,
        );
        value = step.y;
        backward.push(step.backward);
        break;
      }
      case 'batchNorm': {
        const { scale, shift } = batchNormAffine(layer);
        const scaleValue = builder.floats(`${layer.name}.scale`, [1, channels, 1, 1], scale);
        value = builder.node('Add', [builder.node('Mul', [value, scaleValue]), builder.floats(`${layer.name}.shift`, [1, channels, 1, 1], shift)], {}, layer.name);
        backward.push((gradient) => builder.node('Mul', [gradient, scaleValue], {}, `${layer.name}.backward`));
        break;
      }
      case 'relu': {
        const y = builder.node('Relu', [value], {}, layer.name);
        backward.push((gradient) =>
          builder.node('Where', [builder.node('Greater', [y, builder.scalar(0)]), gradient, builder.scalar(0)], {}, `${layer.name}.backward`),
        );
        value = y;
        break;
      }
      case 'relu6': {
        const y = builder.node('Clip', [value, builder.scalar(0), builder.scalar(6)], {}, layer.name);
        backward.push((gradient) => {
          const inside = builder.node('And', [builder.node('Greater', [y, builder.scalar(0)]), builder.node('Less', [y, builder.scalar(6)])]);
          return builder.node('Where', [inside, gradient, builder.scalar(0)], {}, `${layer.name}.backward`);
        });
        value = y;
        break;
      }
      case 'softmax': {
        value = builder.node('Softmax', [value], { axis: 1 }, layer.name);
        backward.push(() => {
          throw new Error(`layer ${layer.name}: no gradient through a softmax layer; choose an earlier feature layer`);
        });
        break;
      }
      case 'maxPool2d': {
        const [ph, pw] = layer.poolSize;
        const [sh, sw] = layer.strides;
        const [top, bottom] = paddingAlong(height, ph, sh, layer.padding);
        const [left, right] = paddingAlong(width, pw, sw, layer.padding);
        const pooledInput = value;
        const attributes = { kernel_shape: [ph, pw], strides: [sh, sw], pads: [top, left, bottom, right] };
        const y = builder.node('MaxPool', [value], attributes, layer.name);
        // Gradient: each window's gradient goes to its maximum (the first one on ties, as in
        // TensorFlow and PyTorch), placed by MaxUnpool at the indices MaxPool reports.
        // Overlapping windows would need the contributions summed, which MaxUnpool does not do.
        backward.push((gradient) => {
          if (sh < ph || sw < pw) throw new Error(`layer ${layer.name}: no gradient for overlapping pooling windows (${ph}x${pw} stride ${sh}x${sw})`);
          const [, indices] = builder.nodeOutputs('MaxPool', [pooledInput], attributes, 2);
          return builder.node('MaxUnpool', [gradient, indices, builder.node('Shape', [pooledInput])], attributes, `${layer.name}.backward`);
        });
        value = y;
        break;
      }
      case 'zeroPadding2d': {
        const [top, bottom, left, right] = layer.pads;
        value = builder.node('Pad', [value, builder.ints([0, 0, top, left, 0, 0, bottom, right])], { mode: 'constant' }, layer.name);
        backward.push((gradient) =>
          builder.node('Slice', [gradient, builder.ints([top, left]), builder.ints([top + height, left + width]), builder.ints([2, 3])], {}, `${layer.name}.backward`),
        );
        break;
      }
      case 'globalAveragePool': {
        value = builder.node('GlobalAveragePool', [value], {}, layer.name);
        backward.push((gradient) =>
          builder.node('Expand', [builder.node('Mul', [gradient, builder.scalar(1 / (height * width))]), builder.ints([1, 1, height, width])], {}, `${layer.name}.backward`),
        );
        break;
      }
      case 'flatten':
      case 'dropout':
      case 'reshape':
        break;
    }
  }
  return { output: value, shape: layers[layers.length - 1].output, backward };
}

/** uint8 HWC pixels -> scaled, resized NCHW network input, and the matching backward step. */
function buildInput(builder: GraphBuilder, backbone: BackboneDescription, options: CompileOptions): { x: string; backward: Backward } {
  const { imageSize, inputSize } = options;
  const pixels = builder.input('pixels', 'uint8', [BATCH, imageSize, imageSize, 3]);
  let x = builder.node('Transpose', [builder.node('Cast', [pixels], { to: DataType.float })], { perm: [0, 3, 1, 2] }, 'input');
  let resize: { matrix: string; transposed: string } | undefined;
  if (inputSize !== imageSize) {
    const matrix = bilinearResizeMatrix(imageSize, inputSize);
    const transposed = new Float32Array(matrix.length);
    for (let r = 0; r < inputSize; r++) for (let c = 0; c < imageSize; c++) transposed[c * inputSize + r] = matrix[r * imageSize + c];
    resize = { matrix: builder.floats('resize', [inputSize, imageSize], matrix), transposed: builder.floats('resize_transposed', [imageSize, inputSize], transposed) };
    // Resizing before the per-channel affine scaling is exact: each row of the matrix sums to 1.
    x = builder.node('MatMul', [builder.node('MatMul', [resize.matrix, x]), resize.transposed], {}, 'resized');
  }
  const { channelOrder, scale, offset } = backbone.input;
  if (channelOrder === 'bgr') x = builder.node('Gather', [x, builder.ints([2, 1, 0])], { axis: 1 }, 'bgr');
  const scaleValue = builder.floats('input_scale', [1, 3, 1, 1], Float32Array.from(scale));
  x = builder.node('Add', [builder.node('Mul', [x, scaleValue]), builder.floats('input_offset', [1, 3, 1, 1], Float32Array.from(offset))], {}, 'scaled');
  const backward: Backward = (gradient) => {
    let g = builder.node('Mul', [gradient, scaleValue]);
    if (channelOrder === 'bgr') g = builder.node('Gather', [g, builder.ints([2, 1, 0])], { axis: 1 });
    if (resize) g = builder.node('MatMul', [builder.node('MatMul', [resize.transposed, g]), resize.matrix]);
    return builder.node('Transpose', [g], { perm: [0, 2, 3, 1] }, 'pixels.backward');
  };
  return { x, backward };
}

function featureDimensionOf([height, width, channels]: Shape): number {
  return height * width * channels;
}

/** NCHW activation -> [N, H*W*C] in HWC order. */
function flattenHwc(builder: GraphBuilder, value: string): string {
  return builder.node('Flatten', [builder.node('Transpose', [value], { perm: [0, 2, 3, 1] })], { axis: 1 }, 'features');
}

export function compileForward(backbone: BackboneDescription, options: CompileOptions): CompiledGraph {
  const builder = new GraphBuilder(`${backbone.name} ${options.featureLayer} forward`);
  const input = buildInput(builder, backbone, options);
  const forward = buildLayers(builder, backbone, options, input.x);
  const dimension = featureDimensionOf(forward.shape);
  builder.output(flattenHwc(builder, forward.output), 'features', 'float', [BATCH, dimension]);
  return { model: encodeModel(builder.build()), dimension };
}

/** The forward graph up to the features [N, D], and a way to back a features gradient [N, D] to the pixels. */
function differentiableFeatures(builder: GraphBuilder, backbone: BackboneDescription, options: CompileOptions) {
  const input = buildInput(builder, backbone, options);
  const forward = buildLayers(builder, backbone, options, input.x);
  const dimension = featureDimensionOf(forward.shape);
  const [height, width, channels] = forward.shape;
  const outputPixelGradient = (featuresGradient: string): void => {
    let gradient = builder.node('Transpose', [builder.node('Reshape', [featuresGradient, builder.ints([-1, height, width, channels])])], { perm: [0, 3, 1, 2] });
    for (const step of [...forward.backward].reverse()) gradient = step(gradient);
    builder.output(input.backward(gradient), 'gradient', 'float', [BATCH, options.imageSize, options.imageSize, 3]);
  };
  return { features: flattenHwc(builder, forward.output), dimension, outputPixelGradient };
}

/** Softmax cross-entropy of a linear head on the features: per-image losses and d loss / d features. */
function crossEntropy(builder: GraphBuilder, features: string, oneHot: string, weights: string, bias: string, hint: string): { losses: string; featuresGradient: string } {
  const logits = builder.node('Gemm', [features, weights, bias], { transB: 1 }, `${hint}.logits`);
  const logProbabilities = builder.node('LogSoftmax', [logits], { axis: 1 });
  const losses = builder.node('Neg', [builder.node('ReduceSum', [builder.node('Mul', [oneHot, logProbabilities]), builder.ints([1])], { keepdims: 0 })], {}, `${hint}.losses`);
  // d loss / d logits = softmax - one-hot; then back through the head.
  const logitsGradient = builder.node('Sub', [builder.node('Exp', [logProbabilities]), oneHot]);
  return { losses, featuresGradient: builder.node('MatMul', [logitsGradient, weights]) };
}

/**
 * Inputs pixels, one_hot [N, K], head_weights [K, D], head_bias [K] (and, with `difference`,
 * subtracted_weights, subtracted_bias and subtracted_scale [1]): losses = cross-entropy of the
 * head, minus subtracted_scale times that of the subtracted head with `difference`;
 * gradient = d sum(losses) / d pixels.
 */
export function compileLossGradient(backbone: BackboneDescription, options: CompileOptions, classes: number, difference = false): CompiledGraph {
  const builder = new GraphBuilder(`${backbone.name} ${options.featureLayer} ${difference ? 'loss difference' : 'loss'} gradient`);
  const { features, dimension, outputPixelGradient } = differentiableFeatures(builder, backbone, options);
  const oneHot = builder.input('one_hot', 'float', [BATCH, classes]);
  const head = crossEntropy(builder, features, oneHot, builder.input('head_weights', 'float', [classes, dimension]), builder.input('head_bias', 'float', [classes]), 'head');
  if (!difference) {
    builder.output(head.losses, 'losses', 'float', [BATCH]);
    outputPixelGradient(head.featuresGradient);
  } else {
    const weights = builder.input('subtracted_weights', 'float', [classes, dimension]);
    const subtracted = crossEntropy(builder, features, oneHot, weights, builder.input('subtracted_bias', 'float', [classes]), 'subtracted');
    // A scale of 1 multiplies exactly: the plain difference keeps its bits.
    const scale = builder.input('subtracted_scale', 'float', [1]);
    builder.output(builder.node('Sub', [head.losses, builder.node('Mul', [subtracted.losses, scale])]), 'losses', 'float', [BATCH]);
    outputPixelGradient(builder.node('Sub', [head.featuresGradient, builder.node('Mul', [subtracted.featuresGradient, scale])]));
  }
  return { model: encodeModel(builder.build()), dimension };
}

/** Inputs pixels and targets [N, D]: losses = squared distance |features - target|^2 per image; gradient = d sum(losses) / d pixels. */
export function compileDistanceGradient(backbone: BackboneDescription, options: CompileOptions): CompiledGraph {
  const builder = new GraphBuilder(`${backbone.name} ${options.featureLayer} feature distance gradient`);
  const { features, dimension, outputPixelGradient } = differentiableFeatures(builder, backbone, options);
  const offset = builder.node('Sub', [features, builder.input('targets', 'float', [BATCH, dimension])]);
  builder.output(builder.node('ReduceSum', [builder.node('Mul', [offset, offset]), builder.ints([1])], { keepdims: 0 }), 'losses', 'float', [BATCH]);
  outputPixelGradient(builder.node('Mul', [offset, builder.scalar(2)]));
  return { model: encodeModel(builder.build()), dimension };
}
