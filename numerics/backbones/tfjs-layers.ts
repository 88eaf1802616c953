// Reads a TensorFlow.js layers model (model.json + binary weight shards) into a backbone
// description. Any sequential chain of the supported Keras layer types works; weights are
// float32 little-endian, read in the weights manifest's order.

import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackboneDescription, InputScaling, Layer, Padding } from './description.js';

interface KerasLayer {
  readonly class_name: string;
  readonly name?: string;
  readonly config: Record<string, unknown> & { name: string };
  readonly inbound_nodes?: unknown[][];
}

interface ManifestGroup {
  readonly paths: string[];
  readonly weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[];
}

interface ModelJson {
  readonly modelTopology: { model_config?: { config: { layers: KerasLayer[] } }; config?: { layers: KerasLayer[] } };
  readonly weightsManifest: ManifestGroup[];
}

export interface TfjsLayersOptions {
  /** The backbone's name in descriptions and feature tables. */
  readonly name: string;
  readonly input: InputScaling;
  /** sha256 (hex) that model.json must have; refuses the model otherwise. */
  readonly modelJsonSha256?: string;
}

export const SUPPORTED_KERAS_LAYERS = [
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'BatchNormalization',
  'Activation',
  'ReLU',
  'MaxPooling2D',
  'ZeroPadding2D',
  'GlobalAveragePooling2D',
  'Flatten',
  'Dropout',
  'Reshape',
] as const;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Loads the weights of every manifest entry, keyed by weight name (e.g. conv1/kernel). */
function readWeights(files: ReadonlyMap<string, Uint8Array>, directory: string, manifest: ManifestGroup[]): Map<string, Float32Array> {
  const weights = new Map<string, Float32Array>();
  for (const group of manifest) {
    const shards = group.paths.map((path) => {
      const shard = files.get(path);
      if (!shard) throw new Error(`${directory}: no weight file ${path}, which model.json lists; give the whole model folder`);
      return shard;
    });
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const entry of group.weights) {
      if (entry.dtype !== 'float32' || entry.quantization) {
        throw new Error(`${directory}: weight ${entry.name} is ${entry.dtype}${entry.quantization ? ' (quantized)' : ''}; only float32 weights are supported`);
      }
      const length = entry.shape.reduce((a, b) => a * b, 1);
      if (offset + length * 4 > bytes.length) {
        throw new Error(`${directory}: weight shards of ${group.paths.join(', ')} are too short for ${entry.name}`);
      }
      // Copy out: shard buffers are not 4-byte aligned in general.
      const values = new Float32Array(length);
      new Uint8Array(values.buffer).set(bytes.subarray(offset, offset + length * 4));
      weights.set(entry.name, values);
      offset += length * 4;
    }
    if (offset !== bytes.length) throw new Error(`${directory}: ${group.paths.join(', ')} hold ${bytes.length} bytes, the manifest describes ${offset}`);
  }
  return weights;
}

function pair(value: unknown, what: string): [number, number] {
  if (Array.isArray(value) && value.length === 2) return [Number(value[0]), Number(value[1])];
  if (typeof value === 'number') return [value, value];
  throw new Error(`${what}: expected a pair of integers, got ${JSON.stringify(value)}`);
}

function activationLayer(activation: unknown, name: string, modelName: string): Layer | undefined {
  if (activation === undefined || activation === 'linear') return undefined;
  if (activation === 'relu' || activation === 'relu6' || activation === 'softmax') return { kind: activation, name };
  throw new Error(`${modelName}: layer ${name} uses activation '${String(activation)}'; supported: linear, relu, relu6, softmax`);
}

function convertLayer(layer: KerasLayer, weights: Map<string, Float32Array>, modelName: string): Layer[] {
  const config = layer.config;
  const name = config.name;
  const weight = (suffix: string): Float32Array => {
    const values = weights.get(`${name}/${suffix}`);
    if (!values) throw new Error(`${modelName}: the weights manifest has no ${name}/${suffix}`);
    return values;
  };
  const checkChannelsLast = () => {
    if (config.data_format !== undefined && config.data_format !== 'channels_last') {
      throw new Error(`${modelName}: layer ${name} is ${String(config.data_format)}; only channels_last is supported`);
    }
    const dilation = pair(config.dilation_rate ?? 1, `${name}.dilation_rate`);
    if (dilation[0] !== 1 || dilation[1] !== 1) throw new Error(`${modelName}: layer ${name} is dilated; not supported`);
  };
  // A convolution with a fused activation becomes the convolution then the activation layer,
  // which keeps the Keras name so that it names the activated output.
  const withActivation = (linear: Layer): Layer[] => {
    const activation = activationLayer(config.activation, name, modelName);
    return activation ? [{ ...linear, name: `${name}/linear` }, activation] : [linear];
  };
  switch (layer.class_name) {
    case 'InputLayer':
      return [];
    case 'Conv2D': {
      checkChannelsLast();
      const kernelSize = pair(config.kernel_size, `${name}.kernel_size`);
      const kernel = weight('kernel');
      const outChannels = Number(config.filters);
      const inChannels = kernel.length / (kernelSize[0] * kernelSize[1] * outChannels);
      return withActivation({
        kind: 'conv2d',
        name,
        kernelSize,
        inChannels,
        outChannels,
        strides: pair(config.strides, `${name}.strides`),
        padding: config.padding as Padding,
        kernel,
        bias: config.use_bias ? weight('bias') : undefined,
      });
    }
    case 'DepthwiseConv2D': {
      checkChannelsLast();
      if (Number(config.depth_multiplier ?? 1) !== 1) throw new Error(`${modelName}: layer ${name} has depth_multiplier ${String(config.depth_multiplier)}; only 1 is supported`);
      const kernelSize = pair(config.kernel_size, `${name}.kernel_size`);
      const kernel = weight('depthwise_kernel');
      return withActivation({
        kind: 'depthwiseConv2d',
        name,
        kernelSize,
        channels: kernel.length / (kernelSize[0] * kernelSize[1]),
        strides: pair(config.strides, `${name}.strides`),
        padding: config.padding as Padding,
        kernel,
        bias: config.use_bias ? weight('bias') : undefined,
      });
    }
    case 'BatchNormalization': {
      const axis = Number(config.axis ?? -1);
      if (axis !== -1 && axis !== 3) throw new Error(`${modelName}: layer ${name} normalizes axis ${axis}; only the channel axis is supported`);
      const mean = weight('moving_mean');
      return [
        {
          kind: 'batchNorm',
          name,
          gamma: config.scale === false ? new Float32Array(mean.length).fill(1) : weight('gamma'),
          beta: config.center === false ? new Float32Array(mean.length) : weight('beta'),
          mean,
          variance: weight('moving_variance'),
          epsilon: Number(config.epsilon ?? 1e-3),
        },
      ];
    }
    case 'Activation': {
      // A linear activation is the identity: it adds no layer (its name is not a feature layer).
      const activation = activationLayer(config.activation, name, modelName);
      return activation ? [activation] : [];
    }
    case 'ReLU': {
      const maxValue = config.max_value;
      if (maxValue === 6) return [{ kind: 'relu6', name }];
      if (maxValue === null || maxValue === undefined) return [{ kind: 'relu', name }];
      throw new Error(`${modelName}: layer ${name} is a ReLU with max_value ${String(maxValue)}; only none or 6 are supported`);
    }
    case 'MaxPooling2D': {
      const poolSize = pair(config.pool_size, `${name}.pool_size`);
      return [{ kind: 'maxPool2d', name, poolSize, strides: pair(config.strides ?? poolSize, `${name}.strides`), padding: config.padding as Padding }];
    }
    case 'ZeroPadding2D': {
      const raw = config.padding;
      const [vertical, horizontal] = Array.isArray(raw) ? raw : [raw, raw];
      const [top, bottom] = pair(vertical, `${name}.padding`);
      const [left, right] = pair(horizontal, `${name}.padding`);
      return [{ kind: 'zeroPadding2d', name, pads: [top, bottom, left, right] }];
    }
    case 'GlobalAveragePooling2D':
      return [{ kind: 'globalAveragePool', name }];
    case 'Flatten':
      return [{ kind: 'flatten', name }];
    case 'Dropout':
      return [{ kind: 'dropout', name }];
    case 'Reshape':
      return [{ kind: 'reshape', name }];
    default:
      throw new Error(`${modelName}: layer ${name} is a ${layer.class_name}; supported layer types: ${SUPPORTED_KERAS_LAYERS.join(', ')}`);
  }
}

/** Checks that each layer takes the previous layer's output (a sequential chain). */
function checkSequential(layers: KerasLayer[], modelName: string): void {
  for (let i = 1; i < layers.length; i++) {
    const nodes = layers[i].inbound_nodes;
    if (nodes === undefined) continue;
    const inbound = nodes.flat().map((node) => (node as unknown[])[0]);
    const previous = layers[i - 1].config.name;
    if (inbound.length !== 1 || inbound[0] !== previous) {
      throw new Error(`${modelName}: layer ${layers[i].config.name} does not take only the output of ${previous}; only sequential chains of layers are supported`);
    }
  }
}

/** Reads directory/model.json and its weight shards. */
/** A tfjs layers model from its files (`model.json` and the weight files it lists, by relative path); `origin` names them in errors. */
export function parseTfjsLayersModel(files: ReadonlyMap<string, Uint8Array>, origin: string, options: TfjsLayersOptions): BackboneDescription {
  const modelPath = `${origin}/model.json`;
  const modelBytes = files.get('model.json');
  if (!modelBytes) throw new Error(`${origin}: no model.json; give the folder of a tfjs layers model (model.json and its weight files)`);
  if (options.modelJsonSha256 !== undefined) {
    const actual = sha256Hex(modelBytes);
    if (actual !== options.modelJsonSha256) {
      throw new Error(`${modelPath}: sha256 is ${actual}, expected ${options.modelJsonSha256}; the file is not the expected model (replace it with a fresh copy)`);
    }
  }
  const model = JSON.parse(Buffer.from(modelBytes).toString('utf8')) as ModelJson;
  const config = model.modelTopology.model_config?.config ?? model.modelTopology.config;
  if (!config?.layers) throw new Error(`${modelPath}: no modelTopology layers; is this a tfjs layers model (not a graph model)?`);
  checkSequential(config.layers, options.name);
  const weights = readWeights(files, origin, model.weightsManifest);
  return {
    name: options.name,
    input: options.input,
    layers: config.layers.flatMap((layer) => convertLayer(layer, weights, options.name)),
  };
}

/** Reads a tfjs layers model folder (tests and benchmarks; the pipeline hands the stage its files). */
export async function loadTfjsLayersModel(directory: string, options: TfjsLayersOptions): Promise<BackboneDescription> {
  const names = await readdir(directory).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${directory} (${error.code ?? error.message})`);
  });
  const files = new Map<string, Uint8Array>();
  for (const name of names) files.set(name, await readFile(join(directory, name)));
  return parseTfjsLayersModel(files, directory, options);
}
