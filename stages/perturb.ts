// Perturbation step k of "exemples passeurs".
//
// The cheater holds a desired linear head (fit on the public test features). Every training
// pixel moves by `step` levels along the sign of the gradient of that head's cross-entropy on
// the true label: against it (`toward`: the training images come to agree with the desired
// model, so a fair training lands near it) or along it (`away`: poisoning). Pixels stay in
// 0..255 and, with a budget, within `budget` levels of the original image. Step k reads the
// images of step k-1, so adding steps recomputes only the new ones.

import { defineStage } from '../pipeline/stage.js';
import { imageSetToTable, tableToImageSet, type ImageSet } from '../data/tables.js';
import { tableToModel, type LinearSvmModel } from '../numerics/svm/model.js';
import type { LinearHead } from '../numerics/engines/engine.js';
import { createEngine, ENGINE_KINDS } from '../numerics/engines/index.js';
import { decodeBackbone } from '../numerics/backbones/serialize.js';
import { perturbationStats, signedStep, type Direction } from '../numerics/perturbation.js';

/** The model's decision rows reordered so that row c scores class c, as the engines' cross-entropy expects. */
function linearHead(model: LinearSvmModel): LinearHead {
  const classes = model.classes.length;
  if (model.biasWeights.length !== classes) {
    throw new Error(`the desired model has ${model.biasWeights.length} decision rows for ${classes} classes: perturb needs a one-vs-rest model of at least 3 classes`);
  }
  const d = model.dimension;
  const weights = new Float32Array(classes * d);
  const bias = new Float32Array(classes);
  model.labels.forEach((classIndex, row) => {
    weights.set(model.weights.subarray(row * d, (row + 1) * d), classIndex * d);
    bias[classIndex] = model.settings.bias >= 0 ? model.settings.bias * model.biasWeights[row] : 0;
  });
  return { classes, dimension: d, weights, bias };
}

function checkSameImages(images: ImageSet, original: ImageSet): void {
  const same = images.count === original.count && images.indices.every((index, i) => index === original.indices[i]);
  if (!same) throw new Error("perturb: 'images' and 'original' must be the same training images (same count and indices)");
}

export const perturbStage = defineStage({
  name: 'perturb',
  version: 2,
  description: "One signed-gradient step on every training pixel, toward (or away from) the desired model",
  allCores: true,
  params: {
    direction: { type: 'enum', values: ['toward', 'away'] as const, default: 'toward', description: "'toward' lowers the desired head's loss (the paper), 'away' raises it (poisoning)" },
    step: { type: 'integer', default: 1, min: 1, max: 255, description: 'Pixel levels moved per step' },
    budget: { type: 'integer', default: 0, min: 0, max: 255, description: 'Largest total change of a pixel from the original (0: unbounded)' },
    input_size: { type: 'integer', default: 64, min: 32, description: 'Side the 32x32 images are resized to inside the network (as in featurize)' },
    feature_layer: { type: 'string', description: 'Backbone layer whose flattened activations are the features (as in featurize)' },
    engine: { type: 'enum', values: ENGINE_KINDS, default: 'onnx', description: 'Compute engine for the input gradient' },
    batch_size: { type: 'integer', default: 100, min: 1, description: 'Images per engine call' },
  },
  inputs: {
    images: { kind: 'table', description: 'Training images before this step (the clean ones at step 1)' },
    original: { kind: 'table', description: 'The clean training images (for the budget and the statistics)' },
    model: { kind: 'table', description: 'The desired model, fit on the test features' },
    backbone: { kind: 'blob', description: 'The frozen feature extractor' },
  },
  outputs: {
    images: { kind: 'table', description: 'Training images after this step (uint8, clamped to 0..255)' },
    stats: { kind: 'metrics', description: "Size of the change (this step, and from the original), PSNR, and the desired head's loss before the step" },
  },
  async run(inputs, params, context) {
    const images = tableToImageSet(inputs.images);
    const original = tableToImageSet(inputs.original);
    checkSameImages(images, original);
    const head = linearHead(tableToModel(inputs.model));
    const engine = await createEngine(params.engine, decodeBackbone(inputs.backbone.bytes), {
      inputSize: params.input_size,
      featureLayer: params.feature_layer,
      threads: context.threads,
      batchSize: params.batch_size,
    });
    try {
      if (engine.dimension !== head.dimension) {
        throw new Error(
          `the desired model has ${head.dimension} features but ${params.feature_layer} at input ${params.input_size} gives ${engine.dimension}: ` +
            'use the same feature_layer and input_size as the featurize stage the model was fit on',
        );
      }
      const stepOptions = { direction: params.direction as Direction, step: params.step, budget: params.budget };
      const pixelsPerImage = images.pixels.length / images.count;
      const perturbed = new Uint8Array(images.pixels.length);
      let lossSum = 0;
      for (let start = 0; start < images.count; start += params.batch_size) {
        context.signal.throwIfAborted();
        const count = Math.min(params.batch_size, images.count - start);
        const range = [start * pixelsPerImage, (start + count) * pixelsPerImage] as const;
        const { gradient, losses } = await engine.lossGradient(images.pixels.subarray(...range), images.labels.subarray(start, start + count), count, head);
        perturbed.set(signedStep(images.pixels.subarray(...range), gradient, original.pixels.subarray(...range), stepOptions), range[0]);
        for (const loss of losses) lossSum += loss;
        context.progress(start + count, images.count, 'images');
      }
      const stats = perturbationStats(images.pixels, perturbed, original.pixels);
      return {
        images: imageSetToTable({ ...images, pixels: perturbed }),
        stats: { ...stats, direction: params.direction, mean_loss_before: lossSum / images.count },
      };
    } finally {
      await engine.dispose();
    }
  },
});
