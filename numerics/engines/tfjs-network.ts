// A backbone description compiled into tfjs ops, written independently of the ONNX graphs so
// that it checks them: tfjs's own 'same' padding rule, resizeBilinear with half-pixel centres,
// pooling, and tfjs autodiff for the backward pass.

import * as tf from '@tensorflow/tfjs';
import { layersUpTo, type BackboneDescription, type InputScaling, type Layer } from '../backbones/description.js';

/** A differentiable map from a [batch, height, width, channels] input to [batch, features]. */
export interface TfjsNetwork {
  readonly dimension: number;
  apply(input: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

/**
 * The differentiable input stage: 0..255 RGB pixels [batch, 32, 32, 3] -> the backbone's
 * channel order and scaling, bilinearly resized (half-pixel centres) to inputSize.
 */
export function scaleAndResize(pixels: tf.Tensor4D, scaling: InputScaling, inputSize: number): tf.Tensor4D {
  const ordered = scaling.channelOrder === 'bgr' ? tf.reverse(pixels, 3) : pixels;
  const scaled = tf.add(tf.mul(ordered, tf.tensor1d([...scaling.scale])), tf.tensor1d([...scaling.offset])) as tf.Tensor4D;
  const [, height, width] = pixels.shape;
  if (height === inputSize && width === inputSize) return scaled;
  return tf.image.resizeBilinear(scaled, [inputSize, inputSize], false, true);
}

type LayerOp = (x: tf.Tensor4D) => tf.Tensor4D;

function compileLayer(layer: Layer, keep: (tensor: tf.Tensor) => void): LayerOp {
  const constant = <T extends tf.Tensor>(tensor: T): T => {
    keep(tensor);
    return tensor;
  };
  switch (layer.kind) {
    case 'conv2d': {
      const [kernelHeight, kernelWidth] = layer.kernelSize;
      const kernel = constant(tf.tensor4d(layer.kernel, [kernelHeight, kernelWidth, layer.inChannels, layer.outChannels]));
      const bias = layer.bias && constant(tf.tensor1d(layer.bias));
      return (x) => {
        const y = tf.conv2d(x, kernel, [...layer.strides], layer.padding);
        return bias ? tf.add(y, bias) : y;
      };
    }
    case 'depthwiseConv2d': {
      const [kernelHeight, kernelWidth] = layer.kernelSize;
      const kernel = constant(tf.tensor4d(layer.kernel, [kernelHeight, kernelWidth, layer.channels, 1]));
      const bias = layer.bias && constant(tf.tensor1d(layer.bias));
      return (x) => {
        const y = tf.depthwiseConv2d(x, kernel, [...layer.strides], layer.padding);
        return bias ? tf.add(y, bias) : y;
      };
    }
    case 'batchNorm': {
      // x * scale + shift: tf.batchNorm's gradient tiles its parameters to the activation's full size.
      const scale = layer.gamma.map((gamma, c) => gamma / Math.sqrt(layer.variance[c] + layer.epsilon));
      const shift = layer.beta.map((beta, c) => beta - layer.mean[c] * scale[c]);
      const [scaleTensor, shiftTensor] = [scale, shift].map((values) => constant(tf.tensor1d(values)));
      return (x) => tf.add(tf.mul(x, scaleTensor), shiftTensor);
    }
    case 'relu':
      return (x) => tf.relu(x);
    case 'relu6':
      return (x) => tf.relu6(x);
    case 'softmax':
      return (x) => tf.softmax(x);
    case 'maxPool2d':
      return (x) => tf.maxPool(x, [...layer.poolSize], [...layer.strides], layer.padding);
    case 'zeroPadding2d': {
      const [top, bottom, left, right] = layer.pads;
      return (x) => tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    }
    case 'globalAveragePool':
      return (x) => tf.mean(x, [1, 2], true);
    case 'flatten':
    case 'dropout':
    case 'reshape':
      return (x) => x;
  }
}

/** The backbone from its input scaling to the feature layer (flattened HWC). */
export function compileBackbone(backbone: BackboneDescription, featureLayer: string, inputSize: number): TfjsNetwork {
  const layers = layersUpTo(backbone, featureLayer, inputSize);
  const [height, width, channels] = layers[layers.length - 1].output;
  const constants: tf.Tensor[] = [];
  const ops = layers.map(({ layer }) => compileLayer(layer, (tensor) => constants.push(tensor)));
  const dimension = height * width * channels;
  return {
    dimension,
    apply(pixels) {
      const activation = ops.reduce((x, op) => op(x), scaleAndResize(pixels, backbone.input, inputSize));
      return activation.reshape([pixels.shape[0], dimension]);
    },
    dispose() {
      tf.dispose(constants);
    },
  };
}
