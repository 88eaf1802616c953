// Errors a user can cause, determinism, and the evaluate stage's outputs.

import { describe, expect, test } from 'vitest';
import type { FeatureSet } from '../data/tables.js';
import { featureSetToTable } from '../data/tables.js';
import { fitLinearSvm, modelToTable, predict, type SvmSolver } from '../numerics/svm/index.js';
import { syntheticReluFeatures } from './support/synthetic-features.js';
import { evaluateStage as evaluate } from '../stages/evaluate.js';

const set = syntheticReluFeatures({ count: 500, dimension: 20, modelSeed: 11, rowSeed: 12 });
const params = (solver: SvmSolver) => ({ solver, C: 1, eps: 0, bias: 1 });
const withFeatures = (features: Float32Array, count = set.count): FeatureSet => ({ ...set, count, features, labels: set.labels.subarray(0, count) });

describe.each(['dual-cd', 'primal-newton'] as const)('%s', (solver) => {
  test('empty training set', async () => {
    await expect(fitLinearSvm(withFeatures(new Float32Array(0), 0), params(solver))).rejects.toThrow(/empty/);
  });
  test('one class only', async () => {
    await expect(fitLinearSvm({ ...set, labels: new Uint8Array(set.count).fill(3) }, params(solver))).rejects.toThrow(/class 'cat'.*at least two classes/);
  });
  test('NaN and infinite features', async () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const features = Float32Array.from(set.features);
      features[7 * set.dimension + 5] = bad;
      await expect(fitLinearSvm(withFeatures(features), params(solver))).rejects.toThrow(new RegExp(`feature 5 of row 7 is ${bad}`));
    }
  });
  test('same input, same bytes', async () => {
    const [a, b] = [await fitLinearSvm(set, params(solver)), await fitLinearSvm(set, params(solver), { threads: 1 })];
    expect(Buffer.from(a.weights.buffer)).toEqual(Buffer.from(b.weights.buffer));
    expect(a.fits).toEqual(b.fits);
  });
});

test('C must be positive', async () => {
  await expect(fitLinearSvm(set, { solver: 'dual-cd', C: 0, eps: 0, bias: 1 })).rejects.toThrow(/C must be > 0/);
});

test('prediction on features of another size', async () => {
  const model = await fitLinearSvm(set, params('primal-newton'));
  const wider = syntheticReluFeatures({ count: 10, dimension: 21, modelSeed: 11, rowSeed: 13 });
  expect(() => predict(model, wider)).toThrow(/21 features per row but the model was trained on 20/);
});

describe('evaluate stage', () => {
  const context = { progress() {}, log() {}, signal: new AbortController().signal, threads: 1 };
  test('accuracy, per-class accuracy, training accuracy and confusion matrix agree with predict', async () => {
    const test = syntheticReluFeatures({ count: 300, dimension: 20, modelSeed: 11, rowSeed: 14 });
    const model = await fitLinearSvm(set, params('dual-cd'));
    const { metrics, confusion } = await evaluate.run({ model: modelToTable(model), test: featureSetToTable(test), train: featureSetToTable(set) }, {}, context);
    const predictions = predict(model, test);
    const correct = predictions.filter((p, i) => p === test.labels[i]).length;
    expect(metrics.accuracy).toBe(correct / test.count);
    const counts = (confusion as { counts: number[][] }).counts;
    expect(counts.flat().reduce((a, b) => a + b, 0)).toBe(test.count);
    expect(metrics['accuracy/cat']).toBe(counts[3][3] / counts[3].reduce((a, b) => a + b, 0));
    const trainPredictions = predict(model, set);
    expect(metrics.train_accuracy).toBe(trainPredictions.filter((p, i) => p === set.labels[i]).length / set.count);
  });
  test('mismatched feature sizes name the input', async () => {
    const model = await fitLinearSvm(set, params('dual-cd'));
    const wider = syntheticReluFeatures({ count: 10, dimension: 21, modelSeed: 11, rowSeed: 13 });
    await expect(
      evaluate.run({ model: modelToTable(model), test: featureSetToTable(wider), train: featureSetToTable(set) }, {}, context),
    ).rejects.toThrow(/input 'test' has 21 features per row but the model has 20/);
  });
});
