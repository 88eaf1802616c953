// backbone: verifies a frozen ImageNet network's weights, handed over by the engine as the files
// the config names, and passes it on as one blob, so that its content hash is part of every
// downstream cache key.

import { defineStage } from '../pipeline/stage.js';
import { INPUT_SCALINGS, type BackboneDescription } from '../numerics/backbones/description.js';
import { MOBILENET_MODEL_JSON_SHA256, MOBILENET_V1_075_224 } from '../numerics/backbones/mobilenet.js';
import { encodeBackbone } from '../numerics/backbones/serialize.js';
import { parseTfjsLayersModel, sha256Hex } from '../numerics/backbones/tfjs-layers.js';
import { parseVgg16Safetensors, randomVgg16 } from '../numerics/backbones/vgg16.js';

const FORMATS = ['tfjs-layers', 'vgg16-safetensors', 'vgg16-random'] as const;
const SCALINGS = ['model-default', ...Object.keys(INPUT_SCALINGS)];

/** Known models: one named here is refused unless its bytes match. */
const KNOWN_SHA256: Record<string, string> = { [MOBILENET_V1_075_224]: MOBILENET_MODEL_JSON_SHA256 };

export const backboneStage = defineStage({
  name: 'backbone',
  version: 2,
  description: 'Verifies a frozen CNN (tfjs layers model or VGG16 weights) and passes it on as one backbone blob',
  params: {
    model: { type: 'string', default: MOBILENET_V1_075_224, description: 'The model\'s name (known models are checked against their published sha256)' },
    format: { type: 'enum', values: FORMATS, default: 'tfjs-layers', description: 'tfjs-layers: a folder of model.json + weight files; vgg16-safetensors: one file of VGG16 conv1_1..conv4_1 weights (see numerics/backbones/vgg16.ts); vgg16-random: generated weights for tests and benchmarks (no files)' },
    input_scaling: { type: 'enum', values: SCALINGS, default: 'model-default', description: "Pixel preprocessing; model-default: minus-one-to-one for MobileNet, the file's own (else raw) for VGG16" },
    sha256: { type: 'string', default: '', description: 'Expected sha256 of model.json or of the .safetensors file (known models are always checked)' },
    seed: { type: 'integer', default: 1, min: 0, description: 'Seed of the generated weights (vgg16-random only)' },
  },
  inputs: {
    files: { kind: 'files', optional: true, description: 'The model: a tfjs layers folder, or a .safetensors file (none for vgg16-random)' },
  },
  outputs: {
    backbone: { kind: 'blob', description: 'The backbone description (layers and weights), safetensors' },
  },
  async run(inputs, params, context) {
    const expectedSha256 = params.sha256 || KNOWN_SHA256[params.model];
    const scaling = params.input_scaling === 'model-default' ? undefined : INPUT_SCALINGS[params.input_scaling];
    const files = inputs.files;
    if (params.format !== 'vgg16-random' && !files) {
      throw new Error(`backbone ${params.model}: format ${params.format} needs the model's files: bind \`inputs: { files: { path: ... } }\``);
    }
    let backbone: BackboneDescription;
    if (params.format === 'tfjs-layers') {
      const input = scaling ?? (params.model === MOBILENET_V1_075_224 ? INPUT_SCALINGS['minus-one-to-one'] : undefined);
      if (!input) throw new Error(`backbone ${params.model}: set input_scaling (one of ${Object.keys(INPUT_SCALINGS).join(', ')}); only known models have a default`);
      if (files!.kind !== 'folder') throw new Error(`${files!.origin}: a tfjs layers model is a folder (model.json and its weight files), not a single file`);
      backbone = parseTfjsLayersModel(files!.files, files!.origin, { name: params.model, input, modelJsonSha256: expectedSha256 });
    } else if (params.format === 'vgg16-safetensors') {
      if (files!.kind !== 'file') throw new Error(`${files!.origin}: vgg16-safetensors takes one .safetensors file, not a folder`);
      const bytes = [...files!.files.values()][0]!;
      const actual = sha256Hex(bytes);
      if (expectedSha256 && actual !== expectedSha256) throw new Error(`${files!.origin}: sha256 is ${actual}, expected ${expectedSha256}`);
      const scalingName = params.input_scaling === 'model-default' ? undefined : params.input_scaling;
      backbone = { ...parseVgg16Safetensors(bytes, files!.origin, scalingName), name: params.model };
    } else {
      const generated = randomVgg16(params.seed);
      backbone = scaling ? { ...generated, input: scaling } : generated;
    }
    context.log(`backbone ${backbone.name}: ${backbone.layers.length} layers`);
    return { backbone: { extension: 'safetensors', bytes: encodeBackbone(backbone) } };
  },
});
