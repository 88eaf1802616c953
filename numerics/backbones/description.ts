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

export interface BackboneDescription {
  /** Identifies the weights (e.g. mobilenet_v1_0.75_224, vgg16_conv4_1). */
  readonly name: string;
  readonly input: InputScaling;
  readonly layers: readonly Layer[];
}
