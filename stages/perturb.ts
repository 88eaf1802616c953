// Perturbation step of "exemples passeurs".
//
// The cheater holds a desired linear head (fit on the public test features). Every training
// pixel moves along the sign of an input gradient, by one of three methods:
//   sign        the paper's 4.3: the desired head's cross-entropy on the true label;
//   difference  the desired head's cross-entropy minus the fair head's (the fair model is an input),
//               or minus `fair_weight` times it: at larger budgets the full difference teaches the
//               refit the fair model's opposite (docs/attacks.md);
//   rotation    the paper's 4.2: the squared distance from the image's features to a target that
//               rotates the fair model toward the desired one (numerics/rotation.ts);
//   influence   the first-order effect of the image's features on the refit: the features move
//               along the direction that turns the refit toward the desired model fastest
//               (numerics/influence.ts).
// `toward` lowers the loss (the training images come to agree with the desired model, so a fair
// training lands near it), `away` raises it (poisoning); for `rotation`, `away` rotates the
// other way. A stage may take several sub-level steps (`iterations`, `step`, `schedule`): they
// accumulate in floating point, and the gradient is always taken at the image rounded to whole
// levels, as delivered. Pixels stay in 0..255 and, with a budget, within `budget` levels of the
// original image. A stage reads the images of the previous one (the clean ones at first), so
// adding steps recomputes only the new ones; the image tables carry method, direction, budget
// and step in their metadata.
//
// The statistics need the features of the delivered images, so the stage outputs them too, the
// same bytes as a featurize stage would compute from its images: the refit reads them without
// another forward pass over the training set.
//
// For 'sign' and 'difference', the first gradient's signs may come from a gradient-signs stage
// (`first_signs`), which stages that start from the same images share; they are checked to be
// those of this stage's images, labels, heads and settings.

import pLimit from 'p-limit';
import { defineStage } from '../pipeline/stage.js';
import { imageFeaturesToTable, imageSetToTable, tableToGradientSigns, tableToImageSet, IMAGE_BYTES, type GradientSigns, type ImageSet } from '../data/tables.js';
import { tableToModel } from '../numerics/svm/model.js';
import type { FeatureEngine, LossGradient } from '../numerics/engines/engine.js';
import { createEngine } from '../numerics/engines/index.js';
import { decodeBackbone } from '../numerics/backbones/serialize.js';
import { augmentedWeights, headLossAndAccuracy, linearHead, type AugmentedWeights } from '../numerics/linear-head.js';
import { rotationTargets } from '../numerics/rotation.js';
import { influenceDirections } from '../numerics/influence.js';
import { perturbationStats, SCHEDULES, signStep, stepSizes, type Direction, type Schedule } from '../numerics/perturbation.js';
import { firstGradientIdentity, gradientParamSchema, lossGradient, type GradientSettings, type SignLoss } from './gradient-signs.js';

const METHODS = ['sign', 'difference', 'rotation', 'influence'] as const;
/** Images per engine call, in batches: the engine spreads a call's batches over its threads. */
const CHUNK_BATCHES = 4;
/** Chunks in flight: while one chunk's pixel steps run in JavaScript, the engine computes the next one's gradients. */
const CHUNKS_IN_FLIGHT = 2;
/** influence: how far conjugate gradient solves H z = g (a direction is all the sign steps need). */
const INFLUENCE_SOLVE = { tolerance: 0.01, maxSteps: 1000 };
type Method = (typeof METHODS)[number];

function checkSameImages(images: ImageSet, original: ImageSet): void {
  const same = images.count === original.count && images.indices.every((index, i) => index === original.indices[i]);
  if (!same) throw new Error("perturb: 'images' and 'original' must be the same training images (same count and indices)");
}

/** This stage's step number: 1 on clean images (no step metadata), else one more than the step that made the input images. */
function stepNumber(images: ImageSet): number {
  const previous = images.description?.step;
  return previous === undefined ? 1 : Number(previous) + 1;
}

interface Attack {
  /** The gradient to step along, at the rounded images of the batch. */
  gradient(pixels: Uint8Array): Promise<LossGradient>;
  /** The direction in which the steps move against the gradient's loss. */
  readonly direction: Direction;
  /** rotation: the target features, and each image's distance to its target before the steps. */
  readonly rotation?: { readonly targets: Float32Array; readonly distances: Float64Array };
}

interface AttackInputs {
  readonly direction: Direction;
  readonly labels: Uint8Array;
  /** sign and difference: their loss. */
  readonly signLoss?: SignLoss;
  readonly weights?: { readonly desired: AugmentedWeights; readonly fair: AugmentedWeights };
  readonly delta: number;
  /** influence: the batch's feature-space directions (count x dimension). */
  readonly influence?: Float32Array;
  /** The batch's images before the steps. */
  readonly pixels: Uint8Array;
  readonly count: number;
}

async function attackFor(method: Method, engine: FeatureEngine, a: AttackInputs): Promise<Attack> {
  switch (method) {
    case 'sign':
    case 'difference':
      return { direction: a.direction, gradient: (pixels) => lossGradient(engine, a.signLoss!, pixels, a.labels, a.count) };
    case 'influence': {
      // Raise v.f(x) (toward) or lower it (away): descend the distance to f(x) +- v, re-centred at every step.
      const sign = a.direction === 'toward' ? 1 : -1;
      return {
        direction: 'toward',
        gradient: async (pixels) => {
          const targets = await engine.features(pixels, a.count);
          for (let i = 0; i < targets.length; i++) targets[i] += sign * a.influence![i];
          return engine.distanceGradient(pixels, targets, a.count);
        },
      };
    }
    case 'rotation': {
      const features = await engine.features(a.pixels, a.count);
      const delta = a.direction === 'toward' ? a.delta : -a.delta;
      const targets = rotationTargets(features, a.count, a.weights!.desired, a.weights!.fair, delta);
      const distances = Float64Array.from({ length: a.count }, (_, n) => Math.sqrt(squaredDistance(features, targets, n * engine.dimension, engine.dimension)));
      // Always descend the distance: the sign of delta already says which way the model turns.
      return { direction: 'toward', gradient: (pixels) => engine.distanceGradient(pixels, targets, a.count), rotation: { targets, distances } };
    }
  }
}

function squaredDistance(a: Float32Array, b: Float32Array, at: number, length: number): number {
  let sum = 0;
  for (let i = at; i < at + length; i++) sum += (a[i] - b[i]) ** 2;
  return sum;
}

/** Sum over images from..to-1 of |features - target| / |features before - target|: 1 where the steps did not move toward the target, 0 where they reached it. */
function remainingDistances(rotation: NonNullable<Attack['rotation']>, features: Float32Array, from: number, to: number, dimension: number): number {
  let sum = 0;
  for (let n = from; n < to; n++) sum += Math.sqrt(squaredDistance(features, rotation.targets, n * dimension, dimension)) / rotation.distances[n];
  return sum;
}

/** The first gradient's signs, once checked to be those of these images, labels, heads and settings. */
function checkedFirstSigns(signs: GradientSigns, images: ImageSet, signLoss: SignLoss | undefined, method: Method, settings: GradientSettings): GradientSigns {
  if (!signLoss) throw new Error(`perturb: input 'first_signs' applies to methods 'sign' and 'difference' only (this stage's method is '${method}')`);
  const sameImages = signs.count === images.count && signs.indices.every((index, i) => index === images.indices[i]);
  const expected = firstGradientIdentity(images, signLoss, settings);
  const differing = Object.keys(expected).filter((key) => signs.description[key] !== expected[key]);
  if (!sameImages || differing.length > 0) {
    const what = sameImages ? differing.map((key) => `${key} ${JSON.stringify(signs.description[key] ?? '(unset)')} where this stage has ${JSON.stringify(expected[key])}`).join('; ') : `${signs.count} images, this stage ${images.count}`;
    throw new Error(
      `perturb: input 'first_signs' was computed from other inputs (${what}); bind it to a gradient-signs stage with this stage's images, model${signLoss.method === 'difference' ? ', fair model, fair_weight' : ''} and settings, or leave it unbound`,
    );
  }
  return signs;
}

export const perturbStage = defineStage({
  name: 'perturb',
  version: 3,
  description: 'Signed-gradient steps on every training pixel, toward (or away from) the desired model',
  allCores: true,
  params: {
    method: {
      type: 'enum',
      values: METHODS,
      default: 'sign',
      description: "'sign': the desired head's cross-entropy (the paper's 4.3); 'difference': minus the fair head's; 'rotation': the paper's 4.2; 'influence': the refit's first-order turn toward the desired model",
    },
    direction: { type: 'enum', values: ['toward', 'away'] as const, default: 'toward', description: "'toward' the desired model (the paper), 'away' from it (poisoning)" },
    step: { type: 'number', default: 1, min: 0, max: 255, description: 'Pixel levels moved per iteration (the first one, with a decaying schedule); fractions accumulate' },
    iterations: { type: 'integer', default: 1, min: 1, description: 'Gradient steps in this stage; the images are rounded to whole levels for each gradient and at the end' },
    schedule: { type: 'enum', values: SCHEDULES, default: 'constant', description: "'constant': every iteration moves `step`; 'decay': linearly down to step / iterations" },
    budget: { type: 'integer', default: 0, min: 0, max: 255, description: 'Largest total change of a pixel from the original (0: unbounded)' },
    delta: { type: 'number', default: 0.1, min: 0, description: "rotation: the rotation's size (radians, for orthogonal unit weight vectors)" },
    ...gradientParamSchema,
  },
  inputs: {
    images: { kind: 'table', description: 'Training images before this step (the clean ones at step 1)' },
    original: { kind: 'table', description: 'The clean training images (for the budget and the statistics)' },
    model: { kind: 'table', description: 'The desired model, fit on the test features' },
    fair: { kind: 'table', optional: true, description: "The fair model, fit on the clean training features (methods 'difference', 'rotation' and 'influence')" },
    backbone: { kind: 'blob', description: 'The frozen feature extractor' },
    first_signs: {
      kind: 'table',
      optional: true,
      description: "'sign' and 'difference': the first gradient's signs at these images, from a gradient-signs stage with the same model, loss and settings (unbound: computed here)",
    },
  },
  outputs: {
    images: { kind: 'table', description: 'Training images after this step (uint8, clamped to 0..255), with method, direction, budget and step in the metadata' },
    features: { kind: 'table', description: "Those images' features, as featurize computes them with the same backbone, layer, input size and engine" },
    stats: {
      kind: 'metrics',
      description: "method, direction, budget, step; the size of the change (this step, and from the original), PSNR; the desired head's loss and accuracy on the images after",
    },
  },
  async run(inputs, params, context) {
    const method = params.method as Method;
    const images = tableToImageSet(inputs.images);
    const original = tableToImageSet(inputs.original);
    checkSameImages(images, original);
    const desiredModel = tableToModel(inputs.model);
    const desired = linearHead(desiredModel, "input 'model'");
    if (params.fair_weight !== undefined && method !== 'difference') throw new Error(`perturb: fair_weight applies to method 'difference' only (this stage's method is '${method}')`);
    if (method !== 'sign' && !inputs.fair) throw new Error(`perturb: method '${method}' needs the fair model: bind input 'fair' (e.g. fair: reference.fair)`);
    const fairModel = inputs.fair ? tableToModel(inputs.fair) : undefined;
    const backbone = decodeBackbone(inputs.backbone.bytes);
    const engine = await createEngine(params.engine, backbone, {
      inputSize: params.input_size,
      featureLayer: params.feature_layer,
      threads: context.threads,
      batchSize: params.batch_size,
    });
    try {
      if (engine.dimension !== desired.dimension || (fairModel && fairModel.dimension !== desired.dimension)) {
        throw new Error(
          `the models have ${desired.dimension} features but ${params.feature_layer} at input ${params.input_size} gives ${engine.dimension}: ` +
            'use the same feature_layer and input_size as the featurize stage the models were fit on',
        );
      }
      const direction = params.direction as Direction;
      const steps = stepSizes(params.schedule as Schedule, params.step, params.iterations);
      const fair = fairModel && linearHead(fairModel, "input 'fair'");
      const signLoss: SignLoss | undefined = method === 'sign' || method === 'difference' ? { method, desired, fair, fairWeight: params.fair_weight ?? 1 } : undefined;
      const firstSigns = inputs.first_signs && checkedFirstSigns(tableToGradientSigns(inputs.first_signs), images, signLoss, method, {
        backbone: backbone.name,
        backboneBytes: inputs.backbone.bytes,
        feature_layer: params.feature_layer,
        input_size: params.input_size,
        engine: params.engine,
      });
      const weights =
        method === 'rotation' || method === 'influence' ? { desired: augmentedWeights(desiredModel, "input 'model'"), fair: augmentedWeights(fairModel!, "input 'fair'") } : undefined;
      const influence =
        method === 'influence'
          ? await influenceDirections(await engine.features(original.pixels, original.count), original.labels, weights!.desired, weights!.fair, {
              C: fairModel!.settings.C,
              threads: context.threads,
              ...INFLUENCE_SOLVE,
              signal: context.signal,
              onRound: (round) => context.progress(round, INFLUENCE_SOLVE.maxSteps, 'conjugate-gradient rounds (at most)'),
            })
          : undefined;
      const perturbed = new Uint8Array(images.pixels.length);
      const dimension = engine.dimension;
      const features = new Float32Array(images.count * dimension);
      let done = 0;
      /** Moves one chunk of images; returns the desired head's loss and accuracy (and the rotation's remaining distance) per batch. */
      const perturbChunk = async (start: number, count: number) => {
        context.signal.throwIfAborted();
        const range = [start * IMAGE_BYTES, (start + count) * IMAGE_BYTES] as const;
        const labels = images.labels.subarray(start, start + count);
        const before = images.pixels.subarray(...range);
        const attack = await attackFor(method, engine, {
          direction,
          labels,
          signLoss,
          weights,
          delta: params.delta,
          influence: influence?.directions.subarray(start * dimension, (start + count) * dimension),
          pixels: before,
          count,
        });
        const position = new Float64Array(before);
        let current = before;
        for (const [iteration, step] of steps.entries()) {
          // Signs of -1, 0 and +1 as float32: signStep reads the same signs from them.
          const gradient = iteration === 0 && firstSigns ? new Float32Array(firstSigns.signs.subarray(...range)) : (await attack.gradient(current)).gradient;
          current = signStep(position, gradient, original.pixels.subarray(...range), { direction: attack.direction, step, budget: params.budget });
        }
        perturbed.set(current, range[0]);
        const after = await engine.features(current, count);
        features.set(after, start * dimension);
        const batches = [];
        for (let from = 0; from < count; from += params.batch_size) {
          const to = Math.min(from + params.batch_size, count);
          batches.push({
            count: to - from,
            ...headLossAndAccuracy(desired, after.subarray(from * dimension, to * dimension), labels.subarray(from, to)),
            remainingDistance: attack.rotation ? remainingDistances(attack.rotation, after, from, to, dimension) : 0,
          });
        }
        done += count;
        context.progress(done, images.count, 'images');
        return batches;
      };
      const chunk = params.batch_size * CHUNK_BATCHES;
      const limit = pLimit(CHUNKS_IN_FLIGHT);
      const chunks = [];
      for (let start = 0; start < images.count; start += chunk) chunks.push(limit(() => perturbChunk(start, Math.min(chunk, images.count - start))));
      const batches = await Promise.all(chunks).catch((error: unknown) => {
        limit.clearQueue();
        throw error;
      });
      // Summed batch by batch, in order: the same sums whichever chunk finished first.
      let desiredLoss = 0;
      let desiredCorrect = 0;
      let remainingDistance = 0;
      for (const batch of batches.flat()) {
        desiredLoss += batch.loss * batch.count;
        desiredCorrect += batch.accuracy * batch.count;
        remainingDistance += batch.remainingDistance;
      }
      const step = stepNumber(images);
      const stats = perturbationStats(images.pixels, perturbed, original.pixels);
      const description = { method, direction, budget: String(params.budget), step: String(step) };
      return {
        images: imageSetToTable({ ...images, pixels: perturbed, description }),
        features: imageFeaturesToTable(images, features, dimension, {
          backbone: backbone.name,
          feature_layer: params.feature_layer,
          input_size: params.input_size,
          engine: params.engine,
        }),
        stats: {
          method,
          direction,
          budget: params.budget,
          step,
          ...stats,
          desired_loss: desiredLoss / images.count,
          desired_accuracy: desiredCorrect / images.count,
          ...(params.fair_weight !== undefined ? { fair_weight: params.fair_weight, variant: `fair weight ${params.fair_weight}` } : {}),
          ...(method === 'rotation' ? { feature_distance_remaining: remainingDistance / images.count } : {}),
          ...(influence ? { influence_moving_fraction: influence.movingFraction, influence_relative_residual: influence.relativeResidual } : {}),
        },
      };
    } finally {
      await engine.dispose();
    }
  },
});
