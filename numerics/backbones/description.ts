// A backbone: a frozen feed-forward CNN as plain data (input scaling and an ordered list of
// layers with float32 weights) that the engines compile. Layer names follow the Keras layers,
// so a feature layer is named as in the source model (conv_pw_13_relu, conv4_1...).
//
// Weight layouts are the Keras ones (channels last):
//   conv2d           kernel [kernelHeight, kernelWidth, inChannels, outChannels]
//   depthwiseConv2d  kernel [kernelHeight, kernelWidth, channels] (depth multiplier 1)
// Activations are HWC per image; a feature vector is the chosen layer's output flattened in
// HWC order.

export type Padding = 'same' | 'valid';

export interface Conv2dLayer {
  readonly kind: 'conv2d';
  readonly name: string;
  readonly kernelSize: readonly [number, number];
  readonly inChannels: number;
  readonly outChannels: number;
  readonly strides: readonly [number, number];
  /** 'same' follows TensorFlow: total padding split with the extra row/column after. */
  readonly padding: Padding;
  readonly kernel: Float32Array;
  readonly bias?: Float32Array;
}

export interface DepthwiseConv2dLayer {
  readonly kind: 'depthwiseConv2d';
  readonly name: string;
  readonly kernelSize: readonly [number, number];
  readonly channels: number;
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly kernel: Float32Array;
  readonly bias?: Float32Array;
}

/** Inference-mode batch normalization: gamma * (x - mean) / sqrt(variance + epsilon) + beta. */
export interface BatchNormLayer {
  readonly kind: 'batchNorm';
  readonly name: string;
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  readonly mean: Float32Array;
  readonly variance: Float32Array;
  readonly epsilon: number;
}

export interface ActivationLayer {
  readonly kind: 'relu' | 'relu6' | 'softmax';
  readonly name: string;
}

export interface MaxPool2dLayer {
  readonly kind: 'maxPool2d';
  readonly name: string;
  readonly poolSize: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: Padding;
}

export interface ZeroPadding2dLayer {
  readonly kind: 'zeroPadding2d';
  readonly name: string;
  /** [top, bottom, left, right] */
  readonly pads: readonly [number, number, number, number];
}

/** Mean over height and width; the output is 1x1xC. */
export interface GlobalAveragePoolLayer {
  readonly kind: 'globalAveragePool';
  readonly name: string;
}

/** Layers that leave the values and their HWC order unchanged (Flatten, Dropout at inference, Reshape to [C] or [1,1,C] of a 1x1xC tensor). */
export interface IdentityLayer {
  readonly kind: 'flatten' | 'dropout' | 'reshape';
  readonly name: string;
}

export type Layer =
  | Conv2dLayer
  | DepthwiseConv2dLayer
  | BatchNormLayer
  | ActivationLayer
  | MaxPool2dLayer
  | ZeroPadding2dLayer
  | GlobalAveragePoolLayer
  | IdentityLayer;

/** Per-channel affine map from 0..255 pixels to the network's input, after channel reordering. */
export interface InputScaling {
  /** Channel order the network expects; pixels are stored RGB. */
  readonly channelOrder: 'rgb' | 'bgr';
  /** network input[c] = pixel[c] * scale[c] + offset[c], c in the network's channel order. */
  readonly scale: readonly [number, number, number];
  readonly offset: readonly [number, number, number];
}

/** The usual preprocessings, by the names configs use. */
export const INPUT_SCALINGS: Readonly<Record<string, InputScaling>> = {
  /** Keras MobileNet and Inception: RGB, x / 127.5 - 1. */
  'minus-one-to-one': { channelOrder: 'rgb', scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], offset: [-1, -1, -1] },
  /** Pixels as they are (the paper's VGG16 input). */
  raw: { channelOrder: 'rgb', scale: [1, 1, 1], offset: [0, 0, 0] },
  /** Keras VGG and ResNet: BGR minus the ImageNet channel means. */
  caffe: { channelOrder: 'bgr', scale: [1, 1, 1], offset: [-103.939, -116.779, -123.68] },
  /** torchvision: (x / 255 - mean) / std per channel. */
  torchvision: {
    channelOrder: 'rgb',
    scale: [1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)],
    offset: [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225],
  },
};

export interface BackboneDescription {
  /** Identifies the weights (e.g. mobilenet_v1_0.75_224, vgg16_conv4_1). */
  readonly name: string;
  readonly input: InputScaling;
  readonly layers: readonly Layer[];
}

/** Height, width and channels of an activation. */
export type Shape = readonly [number, number, number];

/** Padding before and after along one axis, TensorFlow's rule for 'same' (the odd pixel goes after). */
export function paddingAlong(size: number, kernel: number, stride: number, padding: Padding): [number, number] {
  if (padding === 'valid') return [0, 0];
  const output = Math.ceil(size / stride);
  const total = Math.max((output - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function windowOutput(size: number, kernel: number, stride: number, padding: Padding): number {
  const [before, after] = paddingAlong(size, kernel, stride, padding);
  const output = Math.floor((size + before + after - kernel) / stride) + 1;
  if (output < 1) throw new Error(`a ${kernel}-wide window does not fit a ${size}-wide input: use a larger input size`);
  return output;
}

/** The output shape of a layer given its input shape. */
export function outputShape(layer: Layer, [height, width, channels]: Shape): Shape {
  switch (layer.kind) {
    case 'conv2d':
      if (layer.inChannels !== channels) throw new Error(`layer ${layer.name} expects ${layer.inChannels} channels, gets ${channels}`);
      return [
        windowOutput(height, layer.kernelSize[0], layer.strides[0], layer.padding),
        windowOutput(width, layer.kernelSize[1], layer.strides[1], layer.padding),
        layer.outChannels,
      ];
    case 'depthwiseConv2d':
      if (layer.channels !== channels) throw new Error(`layer ${layer.name} expects ${layer.channels} channels, gets ${channels}`);
      return [
        windowOutput(height, layer.kernelSize[0], layer.strides[0], layer.padding),
        windowOutput(width, layer.kernelSize[1], layer.strides[1], layer.padding),
        channels,
      ];
    case 'maxPool2d':
      return [
        windowOutput(height, layer.poolSize[0], layer.strides[0], layer.padding),
        windowOutput(width, layer.poolSize[1], layer.strides[1], layer.padding),
        channels,
      ];
    case 'zeroPadding2d':
      return [height + layer.pads[0] + layer.pads[1], width + layer.pads[2] + layer.pads[3], channels];
    case 'globalAveragePool':
      return [1, 1, channels];
    case 'flatten':
    case 'dropout':
    case 'batchNorm':
    case 'relu':
    case 'relu6':
    case 'softmax':
      return [height, width, channels];
    case 'reshape':
      if (height !== 1 || width !== 1) {
        throw new Error(`layer ${layer.name}: only reshapes of a 1x1xC activation are supported (got ${height}x${width}x${channels})`);
      }
      return [1, 1, channels];
  }
}

/** The layers up to and including the feature layer, each with its output shape. */
export function layersUpTo(
  backbone: BackboneDescription,
  featureLayer: string,
  inputSize: number,
): { layer: Layer; input: Shape; output: Shape }[] {
  const end = backbone.layers.findIndex((layer) => layer.name === featureLayer);
  if (end < 0) {
    const names = backbone.layers.map((layer) => layer.name).join(', ');
    throw new Error(`backbone ${backbone.name} has no layer '${featureLayer}'; its layers are: ${names}`);
  }
  let shape: Shape = [inputSize, inputSize, 3];
  return backbone.layers.slice(0, end + 1).map((layer) => {
    const input = shape;
    shape = outputShape(layer, input);
    return { layer, input, output: shape };
  });
}

/** Number of features a layer gives: its activation's height x width x channels. */
export function featureDimension(backbone: BackboneDescription, featureLayer: string, inputSize: number): number {
  const layers = layersUpTo(backbone, featureLayer, inputSize);
  const [height, width, channels] = layers[layers.length - 1].output;
  return height * width * channels;
}
