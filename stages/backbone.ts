// backbone: loads and verifies a frozen ImageNet network's weights from a folder and hands it
// on as one blob, so that its content hash is part of every downstream cache key.

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { defineStage } from '../pipeline/stage.js';
import { INPUT_SCALINGS, type BackboneDescription } from '../numerics/backbones/description.js';
import { MOBILENET_MODEL_JSON_SHA256, MOBILENET_V1_075_224 } from '../numerics/backbones/mobilenet.js';
import { encodeBackbone } from '../numerics/backbones/serialize.js';
import { loadTfjsLayersModel, sha256Hex } from '../numerics/backbones/tfjs-layers.js';
import { parseVgg16Safetensors, randomVgg16 } from '../numerics/backbones/vgg16.js';

const FORMATS = ['tfjs-layers', 'vgg16-safetensors', 'vgg16-random'] as const;
const SCALINGS = ['model-default', ...Object.keys(INPUT_SCALINGS)];

/** Known files: a model named here is refused unless its bytes match. */
const KNOWN_SHA256: Record<string, string> = { [MOBILENET_V1_075_224]: MOBILENET_MODEL_JSON_SHA256 };

export const backboneStage = defineStage({
  name: 'backbone',
  version: 1,
  description: 'Loads and verifies a frozen CNN (tfjs layers model or VGG16 weights) as one backbone blob',
  params: {
    model: { type: 'string', default: MOBILENET_V1_075_224, description: "Model name: the folder <source>/<model>/ (tfjs-layers) or the file <source>/<model>.safetensors (vgg16-safetensors)" },
    source: { type: 'string', default: 'models', description: 'Folder holding the models (relative to the working directory)' },
    format: { type: 'enum', values: FORMATS, default: 'tfjs-layers', description: 'tfjs-layers: model.json + weight shards; vgg16-safetensors: VGG16 conv1_1..conv4_1 weights (see numerics/backbones/vgg16.ts); vgg16-random: generated weights for tests and benchmarks' },
    input_scaling: { type: 'enum', values: SCALINGS, default: 'model-default', description: "Pixel preprocessing; model-default: minus-one-to-one for MobileNet, the file's own (else raw) for VGG16" },
    sha256: { type: 'string', default: '', description: 'Expected sha256 of model.json or of the .safetensors file (known models are always checked)' },
    seed: { type: 'integer', default: 1, min: 0, description: 'Seed of the generated weights (vgg16-random only)' },
  },
  inputs: {},
  outputs: {
    backbone: { kind: 'blob', description: 'The backbone description (layers and weights), safetensors' },
  },
  async run(_inputs, params, context) {
    const expectedSha256 = params.sha256 || KNOWN_SHA256[params.model];
    const scaling = params.input_scaling === 'model-default' ? undefined : INPUT_SCALINGS[params.input_scaling];
    let backbone: BackboneDescription;
    if (params.format === 'tfjs-layers') {
      const input = scaling ?? (params.model === MOBILENET_V1_075_224 ? INPUT_SCALINGS['minus-one-to-one'] : undefined);
      if (!input) throw new Error(`backbone ${params.model}: set input_scaling (one of ${Object.keys(INPUT_SCALINGS).join(', ')}); only known models have a default`);
      backbone = await loadTfjsLayersModel(join(resolve(params.source), params.model), { name: params.model, input, modelJsonSha256: expectedSha256 });
    } else if (params.format === 'vgg16-safetensors') {
      const path = join(resolve(params.source), `${params.model}.safetensors`);
      const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
        throw new Error(`cannot read ${path} (${error.code ?? error.message}): write it as numerics/backbones/vgg16.ts documents, or fix the backbone's source/model params`);
      });
      const actual = sha256Hex(bytes);
      if (expectedSha256 && actual !== expectedSha256) throw new Error(`${path}: sha256 is ${actual}, expected ${expectedSha256}`);
      const scalingName = params.input_scaling === 'model-default' ? undefined : params.input_scaling;
      backbone = { ...parseVgg16Safetensors(bytes, path, scalingName), name: params.model };
    } else {
      const generated = randomVgg16(params.seed);
      backbone = scaling ? { ...generated, input: scaling } : generated;
    }
    context.log(`backbone ${backbone.name}: ${backbone.layers.length} layers`);
    return { backbone: { extension: 'safetensors', bytes: encodeBackbone(backbone) } };
  },
});
