// The perturb stage on real CIFAR-10 images with the real MobileNet (main setting) and a desired
// SVM fit on the real test features: the sign method's single unit step is the paper's step
// computed directly, steps are numbered from the image tables' metadata, the features it outputs
// are those featurize computes from its images, influence steps move the features along their
// directions, a method that needs the fair model says so, and a first step from a gradient-signs
// stage's signs is the step the stage computes itself.

import { beforeAll, describe, expect, test } from 'vitest';
import { gradientSignsToTable, imageSetToTable, tableToGradientSigns, tableToImageSet, type ImageSet } from '../data/tables.js';
import type { Blob, StageContext } from '../pipeline/stage.js';
import { decodeBackbone, encodeBackbone } from '../numerics/backbones/serialize.js';
import { loadMobileNet } from '../numerics/backbones/mobilenet.js';
import { OnnxEngine } from '../numerics/engines/onnx-engine.js';
import { augmentedWeights, linearHead } from '../numerics/linear-head.js';
import { influenceDirections } from '../numerics/influence.js';
import { signedStep } from '../numerics/perturbation.js';
import { fitLinearSvm, modelToTable, tableToModel } from '../numerics/svm/index.js';
import { arrow, type Table } from '../pipeline/arrow.js';
import { featurizeStage } from '../stages/featurize.js';
import { perturbStage } from '../stages/perturb.js';
import { gradientSignsStage } from '../stages/gradient-signs.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';
import { MODELS } from './support/test-images.js';

const context: StageContext = { progress: () => {}, log: () => {}, signal: new AbortController().signal, threads: 2 };
const setting = { input_size: 32, feature_layer: 'conv_pw_5_relu', engine: 'onnx', batch_size: 10 } as const;
const defaults = Object.fromEntries(Object.entries(perturbStage.params).map(([name, spec]) => [name, (spec as { default?: unknown }).default]));

describe('perturb stage', () => {
  let train: ImageSet;
  /** The first 60 training images: every class. */
  let everyClass: ImageSet;
  let backbone: Blob;
  let desired: Table;

  beforeAll(async () => {
    const mini = loadMiniCifar();
    // The first 20 training images; the desired model on the test set's features.
    train = { ...mini.train, count: 20, labels: mini.train.labels.subarray(0, 20), pixels: mini.train.pixels.subarray(0, 20 * 3072), indices: mini.train.indices.subarray(0, 20) };
    everyClass = { ...mini.train, count: 60, labels: mini.train.labels.subarray(0, 60), pixels: mini.train.pixels.subarray(0, 60 * 3072), indices: mini.train.indices.subarray(0, 60) };
    backbone = { extension: 'safetensors', bytes: encodeBackbone(await loadMobileNet(MODELS)) };
    const engine = new OnnxEngine(decodeBackbone(backbone.bytes), { inputSize: 32, featureLayer: 'conv_pw_5_relu', threads: 2, batchSize: 50 });
    const features = await engine.features(mini.test.pixels, mini.test.count);
    await engine.dispose();
    const model = await fitLinearSvm({ count: mini.test.count, dimension: engine.dimension, labels: mini.test.labels, features, classes: mini.test.classes, description: {} }, { solver: 'primal-newton', C: 1, eps: 0, bias: 1 });
    desired = modelToTable(model);
  }, 120_000);

  const run = (images: Table, overrides: Record<string, unknown> = {}, fair?: Table) =>
    perturbStage.run({ images, original: imageSetToTable(train), model: desired, fair, backbone }, { ...defaults, ...setting, ...overrides } as never, context);

  test('one sign step of one level is the paper step; the next stage is step 2', async () => {
    const first = await run(imageSetToTable(train));
    const engine = new OnnxEngine(decodeBackbone(backbone.bytes), { inputSize: 32, featureLayer: 'conv_pw_5_relu', threads: 2, batchSize: 10 });
    const { gradient } = await engine.lossGradient(train.pixels, train.labels, train.count, linearHead(tableToModel(desired)));
    await engine.dispose();
    const expected = signedStep(train.pixels, gradient, train.pixels, { direction: 'toward', step: 1, budget: 0 });
    expect(Buffer.from(tableToImageSet(first.images).pixels).equals(Buffer.from(expected))).toBe(true);
    expect(first.stats).toMatchObject({ method: 'sign', direction: 'toward', budget: 0, step: 1 });
    expect(first.stats.desired_loss).toBeGreaterThan(0);

    const second = await run(first.images, { direction: 'toward' });
    expect(second.stats.step).toBe(2);
    expect(tableToImageSet(second.images).description).toEqual({ method: 'sign', direction: 'toward', budget: '0', step: '2' });
    // A second step lowers the desired head's loss further on these images.
    expect(second.stats.desired_loss).toBeLessThan(first.stats.desired_loss as number);
  }, 120_000);

  test('its features are, byte for byte, those featurize computes from its images (chunks of 40 and a partial one of 20)', async () => {
    const images = imageSetToTable(everyClass);
    const perturbed = await perturbStage.run(
      { images, original: images, model: desired, backbone },
      { ...defaults, ...setting, budget: 2, step: 2, iterations: 2, schedule: 'decay' } as never,
      context,
    );
    const { features } = await featurizeStage.run({ images: perturbed.images, backbone }, setting, context);
    const { tableToIPC } = arrow();
    expect(tableToImageSet(perturbed.images).pixels).not.toEqual(everyClass.pixels);
    expect(Buffer.from(tableToIPC(perturbed.features, 'file')).equals(Buffer.from(tableToIPC(features, 'file')))).toBe(true);
  }, 120_000);

  test("'influence' moves each image's features along its influence direction (toward) or against it (away), within the budget", async () => {
    const engine = new OnnxEngine(decodeBackbone(backbone.bytes), { inputSize: 32, featureLayer: 'conv_pw_5_relu', threads: 2, batchSize: 10 });
    const clean = await engine.features(everyClass.pixels, everyClass.count);
    const features = { count: everyClass.count, dimension: engine.dimension, labels: everyClass.labels, features: clean, classes: everyClass.classes, description: {} };
    const fairModel = await fitLinearSvm(features, { solver: 'primal-newton', C: 1, eps: 0, bias: 1 });
    const { directions } = await influenceDirections(clean, everyClass.labels, augmentedWeights(tableToModel(desired)), augmentedWeights(fairModel), { C: 1, threads: 2, tolerance: 0.01, maxSteps: 1000 });
    const alongDirections = async (images: Table) => {
      const moved = await engine.features(tableToImageSet(images).pixels, everyClass.count);
      let sum = 0;
      for (let i = 0; i < moved.length; i++) sum += directions[i] * (moved[i] - clean[i]);
      return sum;
    };
    const images = imageSetToTable(everyClass);
    const perturb = (direction: string) =>
      perturbStage.run(
        { images, original: images, model: desired, fair: modelToTable(fairModel), backbone },
        { ...defaults, ...setting, method: 'influence', budget: 2, step: 2, iterations: 2, schedule: 'decay', direction } as never,
        context,
      );
    const toward = await perturb('toward');
    const away = await perturb('away');
    expect(await alongDirections(toward.images)).toBeGreaterThan(0);
    expect(await alongDirections(away.images)).toBeLessThan(0);
    await engine.dispose();
    for (const result of [toward, away]) {
      expect(result.stats).toMatchObject({ method: 'influence', budget: 2, max_abs_change_from_original: 2 });
      expect(result.stats.influence_moving_fraction).toBeGreaterThan(0);
      expect(result.stats.influence_relative_residual).toBeLessThanOrEqual(0.01);
    }
  }, 120_000);

  test("'difference' weighs the fair head's cross-entropy by fair_weight (0: 'sign'); only 'difference' takes it", async () => {
    const fair = modelToTable(tableToModel(desired));
    const images = imageSetToTable(train);
    const overrides = { budget: 2, step: 2, iterations: 2, schedule: 'decay' };
    const pixelsOf = async (more: Record<string, unknown>) => tableToImageSet((await run(images, { ...overrides, ...more }, fair)).images).pixels;
    const sign = await pixelsOf({ method: 'sign' });
    expect(Buffer.from(await pixelsOf({ method: 'difference', fair_weight: 0 })).equals(Buffer.from(sign))).toBe(true);
    // With the desired model as the 'fair' one, the weighted difference is (1 - w) times the
    // desired head's cross-entropy: the same sign steps for any w < 1; at w = 1 the loss is 0.
    expect(Buffer.from(await pixelsOf({ method: 'difference', fair_weight: 0.5 })).equals(Buffer.from(sign))).toBe(true);
    expect(Buffer.from(await pixelsOf({ method: 'difference' })).equals(Buffer.from(train.pixels))).toBe(true);
    const stats = (await run(images, { ...overrides, method: 'difference', fair_weight: 0.5 }, fair)).stats;
    expect(stats).toMatchObject({ fair_weight: 0.5, variant: 'fair weight 0.5' });
    await expect(run(images, { method: 'sign', fair_weight: 0.5 }, fair)).rejects.toThrow(/fair_weight applies to method 'difference' only/);
  }, 120_000);

  test('first signs from a gradient-signs stage give the bytes the stage computes itself; signs of other inputs are refused', async () => {
    const images = imageSetToTable(everyClass);
    const engine = new OnnxEngine(decodeBackbone(backbone.bytes), { inputSize: 32, featureLayer: 'conv_pw_5_relu', threads: 2, batchSize: 30 });
    const features = await engine.features(everyClass.pixels, everyClass.count);
    await engine.dispose();
    const fair = modelToTable(await fitLinearSvm({ count: everyClass.count, dimension: 3072, labels: everyClass.labels, features, classes: everyClass.classes, description: {} }, { solver: 'primal-newton', C: 1, eps: 0, bias: 1 }));
    const { tableToIPC } = arrow();
    const bytes = (result: Record<string, unknown>) => ['images', 'features'].map((name) => Buffer.from(tableToIPC(result[name] as Table, 'file')).toString('base64')).concat(JSON.stringify(result.stats));
    const steps = { budget: 2, step: 2, iterations: 2, schedule: 'decay' };
    for (const loss of [{ method: 'sign' }, { method: 'difference', fair_weight: 0.25 }]) {
      // Signs computed in batches of 7 (runs of 7), the perturbation in batches of 10: no bit depends on it.
      const { signs } = await gradientSignsStage.run({ images, model: desired, fair, backbone }, { ...setting, batch_size: 7, ...loss } as never, context);
      const perturb = (first_signs?: Table, more: Record<string, unknown> = {}) =>
        perturbStage.run({ images, original: images, model: desired, fair, backbone, first_signs }, { ...defaults, ...setting, ...steps, ...loss, direction: 'away', ...more } as never, context);
      expect(bytes(await perturb(signs)), loss.method).toEqual(bytes(await perturb()));
      // The signs are what the first step follows: the opposite signs, under the same metadata, move the pixels elsewhere.
      const read = tableToGradientSigns(signs);
      const opposite = gradientSignsToTable({ ...read, signs: read.signs.map((sign) => -sign) });
      expect(bytes(await perturb(opposite))[0]).not.toEqual(bytes(await perturb())[0]);
      if (loss.method === 'difference') await expect(perturb(signs, { fair_weight: 0.5 })).rejects.toThrow(/first_signs' was computed from other inputs \(fair_weight "0.25" where this stage has "0.5"/);
    }
    const { signs: otherModel } = await gradientSignsStage.run({ images, model: fair, backbone }, setting as never, context);
    await expect(perturbStage.run({ images, original: images, model: desired, backbone, first_signs: otherModel }, { ...defaults, ...setting } as never, context)).rejects.toThrow(
      /inputs_sha256/,
    );
    const { signs: otherImages } = await gradientSignsStage.run({ images: imageSetToTable(train), model: desired, backbone }, setting as never, context);
    await expect(perturbStage.run({ images, original: images, model: desired, backbone, first_signs: otherImages }, { ...defaults, ...setting } as never, context)).rejects.toThrow(
      /20 images, this stage 60/,
    );
    await expect(perturbStage.run({ images, original: images, model: desired, fair, backbone, first_signs: otherImages }, { ...defaults, ...setting, method: 'rotation' } as never, context)).rejects.toThrow(
      /applies to methods 'sign' and 'difference' only/,
    );
  }, 180_000);

  test("'difference' and 'rotation' need the fair model", async () => {
    await expect(run(imageSetToTable(train), { method: 'difference' })).rejects.toThrow(/needs the fair model: bind input 'fair'/);
    await expect(run(imageSetToTable(train), { method: 'rotation' })).rejects.toThrow(/needs the fair model/);
  });
});
