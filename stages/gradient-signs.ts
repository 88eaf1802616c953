// The signs of the first gradient of a perturbation, as its own cached stage.
//
// A perturbation stage takes its first gradient at its input images. Stages that start from the
// same images with the same model and loss (the plain steps in both directions and the attack
// rows of every budget, in configs/cifar.yaml) would each compute that same gradient. Here it is
// computed once: its signs, which are all a sign step reads, become an artifact that perturb
// takes as `first_signs`, and stages with the same inputs share one result by key. The table's
// metadata names what the signs were computed from (the settings, and one digest of the images,
// labels, heads and backbone), and perturb refuses signs computed from anything else.

import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { defineStage } from '../pipeline/stage.js';
import { gradientSignsToTable, tableToImageSet, IMAGE_BYTES, type ImageSet } from '../data/tables.js';
import { tableToModel } from '../numerics/svm/model.js';
import type { FeatureEngine, LinearHead } from '../numerics/engines/engine.js';
import { createEngine, ENGINE_KINDS } from '../numerics/engines/index.js';
import { decodeBackbone } from '../numerics/backbones/serialize.js';
import { linearHead } from '../numerics/linear-head.js';
import { gradientSigns } from '../numerics/perturbation.js';

export const FIRST_SIGN_METHODS = ['sign', 'difference'] as const;
export type FirstSignMethod = (typeof FIRST_SIGN_METHODS)[number];
/** Images per engine call, in batches, and calls in flight (as in perturb). */
const CHUNK_BATCHES = 4;
const CHUNKS_IN_FLIGHT = 2;

/** The loss whose input gradient a sign step follows: the desired head's cross-entropy, minus `fairWeight` times the fair head's for 'difference'. */
export interface SignLoss {
  readonly method: FirstSignMethod;
  readonly desired: LinearHead;
  readonly fair?: LinearHead;
  readonly fairWeight: number;
}

/** The input gradient of `loss` at `pixels` (count images). */
export function lossGradient(engine: FeatureEngine, loss: SignLoss, pixels: Uint8Array, labels: Uint8Array, count: number) {
  return loss.method === 'sign' ? engine.lossGradient(pixels, labels, count, loss.desired) : engine.lossGradient(pixels, labels, count, loss.desired, loss.fair, loss.fairWeight);
}

/** The network that computes a gradient: the backbone (its name, and its blob's bytes) and the engine's settings. */
export interface GradientSettings {
  readonly backbone: string;
  readonly backboneBytes: Uint8Array;
  readonly feature_layer: string;
  readonly input_size: number;
  readonly engine: string;
}

/** What the first gradient's signs depend on, as table metadata: the settings, and one digest of the images, labels, heads and backbone. */
export function firstGradientIdentity(images: ImageSet, loss: SignLoss, settings: GradientSettings): Record<string, string> {
  const hash = createHash('sha256');
  const bytes = (values: Uint8Array | Float32Array) => hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  [images.pixels, images.labels, loss.desired.weights, loss.desired.bias, settings.backboneBytes].forEach(bytes);
  if (loss.method === 'difference') [loss.fair!.weights, loss.fair!.bias].forEach(bytes);
  return {
    method: loss.method,
    fair_weight: loss.method === 'difference' ? String(loss.fairWeight) : '',
    backbone: settings.backbone,
    feature_layer: settings.feature_layer,
    input_size: String(settings.input_size),
    engine: settings.engine,
    inputs_sha256: hash.digest('hex'),
  };
}

/** The params that set a perturbation's loss and the network that differentiates it: perturb's, and so those of the signs it takes. */
export const gradientParamSchema = {
  fair_weight: { type: 'number', min: 0, optional: true, description: "difference: the weight of the fair head's cross-entropy (unset: 1)" },
  input_size: { type: 'integer', default: 64, min: 32, description: 'Side the 32x32 images are resized to inside the network (as in featurize)' },
  feature_layer: { type: 'string', description: 'Backbone layer whose flattened activations are the features (as in featurize)' },
  engine: { type: 'enum', values: ENGINE_KINDS, default: 'onnx', description: 'Compute engine for the input gradient' },
  batch_size: { type: 'integer', default: 100, min: 1, description: 'Images per engine call' },
} as const;

export const gradientSignsStage = defineStage({
  name: 'gradient-signs',
  // 2: the backbone's bytes enter the digest of the inputs.
  version: 2,
  description: "The signs of the input gradient of a perturbation's loss at its images: the first step of the perturbation stages that share them",
  allCores: true,
  params: {
    method: { type: 'enum', values: FIRST_SIGN_METHODS, default: 'sign', description: "The loss, as perturb's method: 'sign' (the desired head's cross-entropy) or 'difference' (minus the fair head's)" },
    ...gradientParamSchema,
  },
  inputs: {
    images: { kind: 'table', description: 'The images the perturbation stages start from' },
    model: { kind: 'table', description: 'The desired model' },
    fair: { kind: 'table', optional: true, description: "The fair model (method 'difference')" },
    backbone: { kind: 'blob', description: 'The frozen feature extractor' },
  },
  outputs: {
    signs: { kind: 'table', description: 'Per image, the sign (-1, 0, +1) of the gradient for each pixel value; the metadata says what it was computed from' },
  },
  async run(inputs, params, context) {
    const method = params.method as FirstSignMethod;
    if (params.fair_weight !== undefined && method !== 'difference') throw new Error(`gradient-signs: fair_weight applies to method 'difference' only (this stage's method is '${method}')`);
    if (method === 'difference' && !inputs.fair) throw new Error("gradient-signs: method 'difference' needs the fair model: bind input 'fair' (e.g. fair: reference.fair)");
    const images = tableToImageSet(inputs.images);
    const loss: SignLoss = {
      method,
      desired: linearHead(tableToModel(inputs.model), "input 'model'"),
      fair: inputs.fair && linearHead(tableToModel(inputs.fair), "input 'fair'"),
      fairWeight: params.fair_weight ?? 1,
    };
    const backbone = decodeBackbone(inputs.backbone.bytes);
    const engine = await createEngine(params.engine, backbone, { inputSize: params.input_size, featureLayer: params.feature_layer, threads: context.threads, batchSize: params.batch_size });
    try {
      if (engine.dimension !== loss.desired.dimension) {
        throw new Error(`the model has ${loss.desired.dimension} features but ${params.feature_layer} at input ${params.input_size} gives ${engine.dimension}: use the featurize stage's feature_layer and input_size`);
      }
      const signs = new Int8Array(images.count * IMAGE_BYTES);
      const chunk = params.batch_size * CHUNK_BATCHES;
      const limit = pLimit(CHUNKS_IN_FLIGHT);
      let done = 0;
      const chunks = [];
      for (let start = 0; start < images.count; start += chunk) {
        const count = Math.min(chunk, images.count - start);
        chunks.push(
          limit(async () => {
            context.signal.throwIfAborted();
            const pixels = images.pixels.subarray(start * IMAGE_BYTES, (start + count) * IMAGE_BYTES);
            const { gradient } = await lossGradient(engine, loss, pixels, images.labels.subarray(start, start + count), count);
            signs.set(gradientSigns(gradient), start * IMAGE_BYTES);
            done += count;
            context.progress(done, images.count, 'images');
          }),
        );
      }
      await Promise.all(chunks).catch((error: unknown) => {
        limit.clearQueue();
        throw error;
      });
      const description = firstGradientIdentity(images, loss, {
        backbone: backbone.name,
        backboneBytes: inputs.backbone.bytes,
        feature_layer: params.feature_layer,
        input_size: params.input_size,
        engine: params.engine,
      });
      return { signs: gradientSignsToTable({ count: images.count, indices: images.indices, signs, description }) };
    } finally {
      await engine.dispose();
    }
  },
});
