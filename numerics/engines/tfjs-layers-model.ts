// Any TensorFlow.js layers model (model.json + weight shards in a local folder) as a feature
// network: truncated at the feature layer and rebuilt for the configured input size.
//
// The model is loaded whole (weights checked strictly by tfjs), then its topology is cut after
// the feature layer, given a new input shape, rebuilt, and each kept layer takes the loaded
// layer's weights. Cutting first lets a model whose head only fits the original size (Flatten
// then Dense) serve features at another size.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { InputScaling } from '../backbones/description.js';
import { scaleAndResize, type TfjsNetwork } from './tfjs-network.js';

interface KerasLayerConfig {
  class_name: string;
  name?: string;
  config: { name: string; batch_input_shape?: (number | null)[]; [key: string]: unknown };
  /** Functional models: per call, the list of [layer name, node index, tensor index, kwargs]. */
  inbound_nodes?: [string, number, number, unknown?][][];
}

interface ModelConfig {
  class_name: string;
  config: { layers: KerasLayerConfig[]; input_layers?: unknown[]; output_layers?: unknown[]; [key: string]: unknown } | KerasLayerConfig[];
}

interface ModelJson {
  modelTopology: ModelConfig | { model_config: ModelConfig; [key: string]: unknown };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

function modelConfigOf(topology: ModelJson['modelTopology']): ModelConfig {
  return 'model_config' in topology ? topology.model_config : topology;
}

/** An IOHandler reading model.json and its shards, in manifest order, from a folder. */
function folderHandler(directory: string, model: ModelJson): tf.io.IOHandler {
  return {
    async load() {
      const shards = await Promise.all(
        model.weightsManifest.flatMap((group) => group.paths).map((path) => readFile(join(directory, path))),
      );
      const weightData = new Uint8Array(Buffer.concat(shards)).buffer;
      return {
        modelTopology: model.modelTopology as unknown as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: model.weightsManifest.flatMap((group) => group.weights),
        weightData,
        format: model.format,
        generatedBy: model.generatedBy,
        convertedBy: model.convertedBy ?? undefined,
      };
    },
  };
}

/** Layers the feature layer depends on (a functional model), in the topology's order. */
function ancestors(layers: KerasLayerConfig[], featureLayer: string): KerasLayerConfig[] {
  const byName = new Map(layers.map((layer) => [layer.config.name, layer]));
  const needed = new Set<string>();
  const visit = (name: string) => {
    if (needed.has(name)) return;
    const layer = byName.get(name);
    if (!layer) throw new Error(`tfjs layers model: layer '${name}' is referenced but not defined`);
    needed.add(name);
    for (const call of layer.inbound_nodes ?? []) for (const [inbound] of call) visit(inbound);
  };
  visit(featureLayer);
  return layers.filter((layer) => needed.has(layer.config.name));
}

/** A copy of the topology ending at the feature layer, its input [inputSize, inputSize, channels]. */
function truncatedTopology(model: ModelJson, featureLayer: string, inputSize: number): ModelConfig {
  const config = structuredClone(modelConfigOf(model.modelTopology));
  const layerList = Array.isArray(config.config) ? config.config : config.config.layers;
  const names = layerList.map((layer) => layer.config.name);
  const end = names.indexOf(featureLayer);
  if (end < 0) throw new Error(`tfjs layers model has no layer '${featureLayer}'; its layers are: ${names.join(', ')}`);
  let kept: KerasLayerConfig[];
  if (config.class_name === 'Sequential') {
    kept = layerList.slice(0, end + 1);
  } else {
    kept = ancestors(layerList, featureLayer);
    if (!Array.isArray(config.config)) config.config.output_layers = [[featureLayer, 0, 0]];
  }
  const withShape = kept.filter((layer) => layer.config.batch_input_shape);
  if (withShape.length !== 1) throw new Error(`tfjs layers model: expected one input shape before '${featureLayer}', found ${withShape.length}`);
  const shape = withShape[0].config.batch_input_shape!;
  withShape[0].config.batch_input_shape = [null, inputSize, inputSize, shape[shape.length - 1]];
  if (Array.isArray(config.config)) config.config = kept;
  else config.config.layers = kept;
  return config;
}

/** Loads a tfjs layers model from a folder as the network from 32x32 pixels to the feature layer. */
export async function loadTfjsLayersNetwork(
  directory: string,
  scaling: InputScaling,
  featureLayer: string,
  inputSize: number,
): Promise<TfjsNetwork> {
  const model = JSON.parse(await readFile(join(directory, 'model.json'), 'utf8')) as ModelJson;
  const loaded = await tf.loadLayersModel(folderHandler(directory, model), { strict: true });
  try {
    const truncated = (await tf.models.modelFromJSON({
      modelTopology: truncatedTopology(model, featureLayer, inputSize) as unknown as tf.serialization.ConfigDict,
    })) as tf.LayersModel;
    for (const layer of truncated.layers) layer.setWeights(loaded.getLayer(layer.name).getWeights());
    const outputShape = truncated.outputs[0].shape;
    const dimension = outputShape.slice(1).reduce<number>((product, size) => product * (size ?? NaN), 1);
    if (!Number.isInteger(dimension)) throw new Error(`tfjs layers model: '${featureLayer}' has an undefined output shape ${JSON.stringify(outputShape)}`);
    return {
      dimension,
      apply(pixels) {
        const output = truncated.apply(scaleAndResize(pixels, scaling, inputSize), { training: false }) as tf.Tensor;
        return output.reshape([pixels.shape[0], dimension]);
      },
      dispose() {
        truncated.dispose();
      },
    };
  } finally {
    loaded.dispose();
  }
}
