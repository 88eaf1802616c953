// Gradient kernels for the tfjs wasm backend (4.22), built from its forward kernels.
//
// What they replace, as measured against tfjs's cpu backend (see test/tfjs-engine.test.ts):
// DepthwiseConv2dNativeBackpropInput and Conv2DBackpropFilter are missing (depthwise convolutions
// cannot be differentiated, nor can tfjs-layers' fused convolutions, which always ask for the
// filter gradient); Conv2DBackpropInput is several times slower than Conv2D; ResizeBilinearGrad
// ignores halfPixelCenters; MaxPoolGrad loses the gradient of windows of negative values and is
// wrong on batches of VGG16 activations. Registered once, they serve every tfjs op that reaches
// them, layers models included:
//   - the input gradient of a convolution is a stride-1 forward convolution of the output
//     gradient, spread out with stride-1 zeros between its values, with the filter rotated by
//     180 degrees (and, for conv2d, its in/out channels swapped); the filter gradient is a
//     convolution of the input by the output gradient, dilated by the stride;
//   - a bilinear resize is x -> A x B^T for fixed interpolation matrices, so its gradient is
//     A^T g B;
//   - a max pool's gradient goes to the first maximum of each window (argMax, or equality tests
//     where windows overlap).

import * as tf from '@tensorflow/tfjs';
import { bilinearResizeMatrix } from '../image/resize.js';

type ConvInfo = tf.backend_util.Conv2DInfo;
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

interface ConvolutionGradientInputs {
  dy: tf.Tensor4D;
  filter: tf.Tensor4D;
}

interface ConvolutionGradientAttributes {
  inputShape: [number, number, number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | number | ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Each value followed by stride - 1 zeros along height and width: [n, h * strideHeight, w * strideWidth, c]. */
function spread(values: tf.Tensor4D, strideHeight: number, strideWidth: number): tf.Tensor4D {
  if (strideHeight === 1 && strideWidth === 1) return values;
  const [batch, height, width, channels] = values.shape;
  return tf
    .pad(values.reshape([batch, height, 1, width, 1, channels]), [
      [0, 0],
      [0, 0],
      [0, strideHeight - 1],
      [0, 0],
      [0, strideWidth - 1],
      [0, 0],
    ])
    .reshape([batch, height * strideHeight, width * strideWidth, channels]);
}

/** Cuts the given amounts off height and width; negative amounts are left for padding. */
function crop(values: tf.Tensor4D, [top, bottom]: [number, number], [left, right]: [number, number]): tf.Tensor4D {
  const [cutTop, cutBottom, cutLeft, cutRight] = [top, bottom, left, right].map((amount) => Math.max(0, amount));
  if (cutTop + cutBottom + cutLeft + cutRight === 0) return values;
  const [batch, height, width, channels] = values.shape;
  return values.slice([0, cutTop, cutLeft, 0], [batch, height - cutTop - cutBottom, width - cutLeft - cutRight, channels]);
}

/** Pads height and width by the given amounts; a negative amount crops instead. */
function padOrCrop(values: tf.Tensor4D, [top, bottom]: [number, number], [left, right]: [number, number]): tf.Tensor4D {
  const cropped = crop(values, [-top, -bottom], [-left, -right]);
  if (Math.max(top, bottom, left, right) <= 0) return cropped;
  return tf.pad(cropped, [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ]);
}

/**
 * The output gradient spread by the strides, and the padding (given to the convolution, which
 * saves a copy) such that a stride-1 convolution with the rotated filter gives the input
 * gradient. Along an axis with input size L, output size O, kernel K, stride S and padding P
 * before: K - 1 - P before, L + P - S * O after (negative: cropped).
 */
function spreadGradient(dy: tf.Tensor4D, info: ConvInfo): { spread: tf.Tensor4D; padding: ExplicitPadding } {
  const [, outHeight, outWidth] = dy.shape;
  const [top, bottom] = [info.filterHeight - 1 - info.padInfo.top, info.inHeight + info.padInfo.top - info.strideHeight * outHeight];
  const [left, right] = [info.filterWidth - 1 - info.padInfo.left, info.inWidth + info.padInfo.left - info.strideWidth * outWidth];
  return {
    spread: crop(spread(dy, info.strideHeight, info.strideWidth), [-top, -bottom], [-left, -right]),
    padding: [
      [0, 0],
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
      [0, 0],
    ],
  };
}

/**
 * The filter turned by 180 degrees in height and width, as a product with the exchange matrix
 * (exact: each output is one value times 1 plus zeros). The wasm Reverse and GatherV2 kernels
 * are far slower than its matrix product here.
 */
function rotate180(filter: tf.Tensor4D): tf.Tensor4D {
  const [height, width, ...channels] = filter.shape;
  const positions = height * width;
  if (positions === 1) return filter;
  const exchange = tf.tensor2d(
    Array.from({ length: positions * positions }, (_, i) => (Math.floor(i / positions) + (i % positions) === positions - 1 ? 1 : 0)),
    [positions, positions],
  );
  return tf.matMul(exchange, filter.reshape([positions, channels[0] * channels[1]])).reshape(filter.shape);
}

function isPlainNhwc(attrs: ConvolutionGradientAttributes): boolean {
  const dilations = attrs.dilations ?? 1;
  const unitDilations = typeof dilations === 'number' ? dilations === 1 : dilations.every((d) => d === 1);
  return unitDilations && (attrs.dataFormat ?? 'NHWC') === 'NHWC';
}

function conv2dInputGradient({ dy, filter }: ConvolutionGradientInputs, attrs: ConvolutionGradientAttributes): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filter.shape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const { spread, padding } = spreadGradient(dy, info);
    return tf.conv2d(spread, tf.transpose(rotate180(filter), [0, 1, 3, 2]), 1, padding) as tf.Tensor4D;
  });
}

function depthwiseInputGradient({ dy, filter }: ConvolutionGradientInputs, attrs: ConvolutionGradientAttributes): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filter.shape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true);
    const { spread, padding } = spreadGradient(dy, info);
    const rotated = rotate180(filter);
    const [filterHeight, filterWidth, channels, multiplier] = filter.shape;
    if (multiplier === 1) return tf.depthwiseConv2d(spread, rotated, 1, padding) as tf.Tensor4D;
    // Output channel c * multiplier + m comes from input channel c through filter[..., c, m].
    const [batch, height, width] = spread.shape;
    const perMultiplier = spread.reshape([batch, height, width, channels, multiplier]);
    const contributions = Array.from({ length: multiplier }, (_, m) =>
      tf.depthwiseConv2d(
        perMultiplier.slice([0, 0, 0, 0, m], [batch, height, width, channels, 1]).reshape<tf.Tensor4D>([batch, height, width, channels]),
        rotated.slice<tf.Tensor4D>([0, 0, 0, m], [filterHeight, filterWidth, channels, 1]),
        1,
        padding,
      ),
    );
    return tf.addN(contributions);
  }) as tf.Tensor4D;
}

/**
 * dW[a, b, i, o] = sum over images and output positions (y, z) of xPadded[y * S + a, z * S + b, i] * dy[y, z, o]:
 * a stride-1 convolution of x with channels as the batch, by dy with images as the channels,
 * dilated by the forward stride.
 */
function conv2dFilterGradient(
  { x, dy }: { x: tf.Tensor4D; dy: tf.Tensor4D },
  attrs: ConvolutionGradientAttributes & { filterShape: [number, number, number, number] },
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(x.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const { top, bottom, left, right } = info.padInfo;
    const correlation = tf.conv2d(
      tf.transpose(x, [3, 1, 2, 0]),
      tf.transpose(dy, [1, 2, 0, 3]),
      1,
      [[0, 0], [top, bottom], [left, right], [0, 0]],
      'NHWC',
      [info.strideHeight, info.strideWidth],
    );
    const [filterHeight, filterWidth, inChannels, outChannels] = attrs.filterShape;
    return tf.transpose(correlation.slice([0, 0, 0, 0], [inChannels, filterHeight, filterWidth, outChannels]), [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

function resizeBilinearGradient(
  { images, dy }: { images: tf.Tensor4D; dy: tf.Tensor4D },
  { alignCorners, halfPixelCenters }: { alignCorners: boolean; halfPixelCenters: boolean },
): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, inHeight, inWidth, channels] = images.shape;
    const [, outHeight, outWidth] = dy.shape;
    const rows = tf.tensor2d(bilinearResizeMatrix(inHeight, outHeight, { alignCorners, halfPixelCenters }), [outHeight, inHeight]);
    const columns = tf.tensor2d(bilinearResizeMatrix(inWidth, outWidth, { alignCorners, halfPixelCenters }), [outWidth, inWidth]);
    const alongWidth = tf
      .transpose(dy, [0, 3, 1, 2])
      .reshape([batch * channels * outHeight, outWidth])
      .matMul(columns)
      .reshape([batch * channels, outHeight, inWidth]);
    const alongBoth = tf
      .transpose(alongWidth, [0, 2, 1])
      .reshape([batch * channels * inWidth, outHeight])
      .matMul(rows)
      .reshape([batch, channels, inWidth, inHeight]);
    return tf.transpose(alongBoth, [0, 3, 2, 1]) as tf.Tensor4D;
  });
}

type PoolGradientInputs = { dy: tf.Tensor4D; input: tf.Tensor4D; output: tf.Tensor4D };
type PoolGradientAttributes = {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

/**
 * Windows that tile the input without overlap or padding (VGG's 2x2 pools): each window's
 * values side by side, the first maximum found by argMax, its one-hot code scaled by dy.
 */
function tilingMaxPoolGradient(dy: tf.Tensor4D, input: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const [batch, height, width, channels] = input.shape;
  const { outHeight, outWidth, filterHeight, filterWidth } = info;
  const windowSize = filterHeight * filterWidth;
  const windows = crop(input, [0, height - outHeight * filterHeight], [0, width - outWidth * filterWidth])
    .reshape([batch, outHeight, filterHeight, outWidth, filterWidth, channels])
    .transpose([0, 1, 3, 5, 2, 4])
    .reshape([batch, outHeight, outWidth, channels, windowSize]);
  // int32 then cast: tf.oneHot's float32 output is wrong on wasm 4.22 (integer bits).
  const firstMaximum = windowSize === 1 ? tf.onesLike(windows) : tf.cast(tf.oneHot(tf.argMax(windows, 4), windowSize), 'float32');
  const routed = tf.mul(firstMaximum, dy.reshape([batch, outHeight, outWidth, channels, 1]));
  const tiled = routed
    .reshape([batch, outHeight, outWidth, channels, filterHeight, filterWidth])
    .transpose([0, 1, 4, 2, 5, 3])
    .reshape<tf.Tensor4D>([batch, outHeight * filterHeight, outWidth * filterWidth, channels]);
  return padOrCrop(tiled, [0, height - outHeight * filterHeight], [0, width - outWidth * filterWidth]);
}

/** Any window layout: window offset by window offset, claiming the first maximum with equality tests. */
function overlappingMaxPoolGradient(dy: tf.Tensor4D, input: tf.Tensor4D, output: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { top, bottom, left, right } = info.padInfo;
  const padded = tf.pad(input, [[0, 0], [top, bottom], [left, right], [0, 0]], -Infinity);
  const [batch, paddedHeight, paddedWidth, channels] = padded.shape;
  const { outHeight, outWidth, strideHeight, strideWidth } = info;
  let unclaimed: tf.Tensor4D = tf.onesLike(output);
  let paddedGradient: tf.Tensor4D = tf.zerosLike(padded);
  for (let row = 0; row < info.effectiveFilterHeight; row++) {
    for (let column = 0; column < info.effectiveFilterWidth; column++) {
      const window = tf.stridedSlice(
        padded,
        [0, row, column, 0],
        [batch, row + (outHeight - 1) * strideHeight + 1, column + (outWidth - 1) * strideWidth + 1, channels],
        [1, strideHeight, strideWidth, 1],
      ) as tf.Tensor4D;
      const isMaximum = tf.mul(tf.cast(tf.equal(window, output), 'float32'), unclaimed);
      unclaimed = tf.sub(unclaimed, isMaximum);
      const placed = padOrCrop(
        spread(tf.mul(dy, isMaximum), strideHeight, strideWidth),
        [row, paddedHeight - row - outHeight * strideHeight],
        [column, paddedWidth - column - outWidth * strideWidth],
      );
      paddedGradient = tf.add(paddedGradient, placed);
    }
  }
  return paddedGradient.slice([0, top, left, 0], input.shape);
}

/** Routes each output gradient to the first maximum of its window in row-major order, as TensorFlow and tfjs's cpu backend do. */
function maxPoolGradient({ dy, input, output }: PoolGradientInputs, attrs: PoolGradientAttributes): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computePool2DInfo(input.shape, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const { top, bottom, left, right } = info.padInfo;
    const tiles =
      info.strideHeight === info.filterHeight && info.strideWidth === info.filterWidth && top + bottom + left + right === 0;
    return tiles ? tilingMaxPoolGradient(dy, input, info) : overlappingMaxPoolGradient(dy, input, output, info);
  });
}

let registered = false;

/** Replaces the wasm backend's gradient kernels (idempotent; call after the backend is loaded). */
export function registerWasmGradientKernels(): void {
  if (registered) return;
  const stockConvGradient = tf.getKernel('Conv2DBackpropInput', 'wasm');
  const replace = (kernelName: string, kernelFunc: tf.KernelFunc) => {
    if (tf.getKernel(kernelName, 'wasm') != null) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  };
  // Kernels may return tensors: the engine adopts them (ops run inside a kernel are not taped).
  replace('Conv2DBackpropInput', (args) => {
    const attrs = args.attrs as unknown as ConvolutionGradientAttributes;
    if (!isPlainNhwc(attrs) && stockConvGradient != null) return stockConvGradient.kernelFunc(args);
    return conv2dInputGradient(args.inputs as unknown as ConvolutionGradientInputs, attrs);
  });
  // Missing in wasm; tfjs-layers' fused convolutions ask for it even when only inputs need gradients.
  replace('Conv2DBackpropFilter', (args) => {
    const attrs = args.attrs as unknown as Parameters<typeof conv2dFilterGradient>[1];
    if (!isPlainNhwc(attrs)) throw new Error('tfjs wasm engine: convolution filter gradients need NHWC data and unit dilations');
    return conv2dFilterGradient(args.inputs as unknown as Parameters<typeof conv2dFilterGradient>[0], attrs);
  });
  replace('DepthwiseConv2dNativeBackpropInput', (args) => {
    const attrs = args.attrs as unknown as ConvolutionGradientAttributes;
    if (!isPlainNhwc(attrs)) throw new Error('tfjs wasm engine: depthwise convolution gradients need NHWC data and unit dilations');
    return depthwiseInputGradient(args.inputs as unknown as ConvolutionGradientInputs, attrs);
  });
  replace('MaxPoolGrad', (args) =>
    maxPoolGradient(args.inputs as unknown as PoolGradientInputs, args.attrs as unknown as PoolGradientAttributes),
  );
  replace('ResizeBilinearGrad', (args) =>
    resizeBilinearGradient(
      args.inputs as unknown as { images: tf.Tensor4D; dy: tf.Tensor4D },
      args.attrs as unknown as { alignCorners: boolean; halfPixelCenters: boolean },
    ),
  );
  registered = true;
}
