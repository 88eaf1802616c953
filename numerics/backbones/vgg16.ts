// VGG16 truncated after conv4_1 and its ReLU (the paper's backbone): conv1_1 conv1_2 pool1
// conv2_1 conv2_2 pool2 conv3_1 conv3_2 conv3_3 pool3 conv4_1. At 32x32 its output is
// 4x4x512 = 8192 features.
//
// Weights file: safetensors (8-byte little-endian header length, JSON header, raw tensors)
// with torchvision's names and layouts for the layers used: features.{0,2,5,7,10,12,14,17}
// .weight [out, in, 3, 3] and .bias [out], float32. From torchvision, with no package beyond
// torch and torchvision:
//
//   python3 - <<'PY'
//   import json, struct, torchvision
//   state = torchvision.models.vgg16(weights='IMAGENET1K_V1').state_dict()
//   tensors = {k: v.float().contiguous().numpy() for k, v in state.items()
//              if k.startswith('features.') and int(k.split('.')[1]) <= 17}
//   header, offset = {'__metadata__': {'input_scaling': 'raw'}}, 0
//   for name, t in tensors.items():
//       header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + t.nbytes]}
//       offset += t.nbytes
//   text = json.dumps(header).encode()
//   with open('vgg16_conv4_1.safetensors', 'wb') as f:
//       f.write(struct.pack('<Q', len(text)) + text + b''.join(t.tobytes() for t in tensors.values()))
//   PY
//
// From Keras, the same writer with these tensors and {'input_scaling': 'caffe'} (Keras's VGG16
// expects BGR minus the ImageNet means):
//
//   import tensorflow as tf
//   m = tf.keras.applications.VGG16(include_top=False)
//   names = ['block1_conv1', 'block1_conv2', 'block2_conv1', 'block2_conv2',
//            'block3_conv1', 'block3_conv2', 'block3_conv3', 'block4_conv1']
//   tensors = {}
//   for i, name in zip([0, 2, 5, 7, 10, 12, 14, 17], names):
//       tensors[f'features.{i}.weight'] = m.get_layer(name).kernel.numpy().transpose(3, 2, 0, 1).copy()
//       tensors[f'features.{i}.bias'] = m.get_layer(name).bias.numpy()
//
// metadata input_scaling: 'raw' (pixels 0..255 as they are, RGB: the paper's setting; the
// default), 'caffe' (BGR, minus the ImageNet channel means) or 'torchvision' ((x/255 - mean)/std).

import { INPUT_SCALINGS, type BackboneDescription, type InputScaling, type Layer } from './description.js';
import { readSafetensors, type Tensor } from './safetensors.js';
import { seededUniform } from '../random.js';

export const VGG16_CONV4_1 = 'vgg16_conv4_1';

/** [layer name, torchvision index in `features`, input channels, output channels]; 'pool' marks a 2x2 max pool. */
const ARCHITECTURE: readonly (readonly [string, number, number, number] | 'pool')[] = [
  ['conv1_1', 0, 3, 64],
  ['conv1_2', 2, 64, 64],
  'pool',
  ['conv2_1', 5, 64, 128],
  ['conv2_2', 7, 128, 128],
  'pool',
  ['conv3_1', 10, 128, 256],
  ['conv3_2', 12, 256, 256],
  ['conv3_3', 14, 256, 256],
  'pool',
  ['conv4_1', 17, 256, 512],
];

/** torchvision's [out, in, kh, kw] to the description's [kh, kw, in, out]. */
function oihwToHwio(values: Float32Array, out: number, input: number, kh: number, kw: number): Float32Array {
  const result = new Float32Array(values.length);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < input; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) result[((y * kw + x) * input + i) * out + o] = values[((o * input + i) * kh + y) * kw + x];
  return result;
}

function hwioToOihw(values: Float32Array, out: number, input: number, kh: number, kw: number): Float32Array {
  const result = new Float32Array(values.length);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < input; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) result[((o * input + i) * kh + y) * kw + x] = values[((y * kw + x) * input + i) * out + o];
  return result;
}

/** Builds the description from a torchvision-layout weight for each convolution. */
function vgg16FromTensors(tensor: (name: string, shape: number[]) => Float32Array, input: InputScaling): BackboneDescription {
  const layers: Layer[] = [];
  let pools = 0;
  for (const entry of ARCHITECTURE) {
    if (entry === 'pool') {
      pools++;
      layers.push({ kind: 'maxPool2d', name: `pool${pools}`, poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
      continue;
    }
    const [name, index, inChannels, outChannels] = entry;
    const weight = tensor(`features.${index}.weight`, [outChannels, inChannels, 3, 3]);
    layers.push({
      kind: 'conv2d',
      name: `${name}/linear`,
      kernelSize: [3, 3],
      inChannels,
      outChannels,
      strides: [1, 1],
      padding: 'same',
      kernel: oihwToHwio(weight, outChannels, inChannels, 3, 3),
      bias: tensor(`features.${index}.bias`, [outChannels]),
    });
    layers.push({ kind: 'relu', name });
  }
  return { name: VGG16_CONV4_1, input, layers };
}

/** Reads a safetensors file in the layout documented above. */
export function parseVgg16Safetensors(bytes: Uint8Array, where: string, scalingOverride?: string): BackboneDescription {
  const { tensors, metadata } = readSafetensors(bytes, where);
  const scalingName = scalingOverride ?? metadata.input_scaling ?? 'raw';
  const input = INPUT_SCALINGS[scalingName];
  if (!input) throw new Error(`${where}: input_scaling '${scalingName}' is not one of ${Object.keys(INPUT_SCALINGS).join(', ')}`);
  return vgg16FromTensors((name, shape) => {
    const found = tensors.get(name);
    if (!found) throw new Error(`${where}: no tensor ${name}; expected torchvision's VGG16 'features' names (see numerics/backbones/vgg16.ts)`);
    if (found.shape.join(',') !== shape.join(',')) throw new Error(`${where}: tensor ${name} has shape [${found.shape}], expected [${shape}]`);
    return found.values;
  }, input);
}

/** The safetensors tensors (torchvision names and layouts) of a VGG16 description, e.g. to write a weights file. */
export function vgg16Tensors(backbone: BackboneDescription): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  for (const entry of ARCHITECTURE) {
    if (entry === 'pool') continue;
    const [name, index, inChannels, outChannels] = entry;
    const layer = backbone.layers.find((candidate) => candidate.name === `${name}/linear`);
    if (layer?.kind !== 'conv2d' || !layer.bias) throw new Error(`backbone ${backbone.name} has no VGG16 convolution ${name}`);
    tensors.set(`features.${index}.weight`, { shape: [outChannels, inChannels, 3, 3], values: hwioToOihw(layer.kernel, outChannels, inChannels, 3, 3) });
    tensors.set(`features.${index}.bias`, { shape: [outChannels], values: layer.bias });
  }
  return tensors;
}

/**
 * VGG16-conv4_1 with random weights (He-uniform kernels, small biases) from a seed: the same
 * seed gives the same weights. The input is scaled x/255 so activations stay of order one.
 */
export function randomVgg16(seed: number): BackboneDescription {
  const uniform = seededUniform(seed);
  const fill = (length: number, bound: number) => Float32Array.from({ length }, () => (2 * uniform() - 1) * bound);
  return {
    ...vgg16FromTensors((_name, shape) => {
      if (shape.length === 1) return fill(shape[0], 0.05);
      const fanIn = shape[1] * shape[2] * shape[3];
      return fill(shape.reduce((a, b) => a * b, 1), Math.sqrt(6 / fanIn));
    }, { channelOrder: 'rgb', scale: [1 / 255, 1 / 255, 1 / 255], offset: [0, 0, 0] }),
    name: `${VGG16_CONV4_1}_random_${seed}`,
  };
}
