// Parity with the real LIBLINEAR 2.3 (liblinear-train / liblinear-predict, Debian's liblinear-tools)
// on data where the reference converges: predictions agree on >= 99.9 % of the test points and
// accuracies differ by <= 0.1 point. Weight cosine similarity and objective values are printed.
//
// Data: until cached CNN features exist, synthetic ReLU features (numerics/svm/synthetic-features.ts:
// nonnegative, correlated, ~40 % zeros). Raw CIFAR-10 pixels (test/svm-data.ts) are no parity
// data: -s 1 hits its cap on them, and on -s 2 the problem is so ill-conditioned that two
// solutions meeting the stopping rule (|g| <= 1e-3 |g0|) differ in weights and predictions
// (measured: 95.5 % agreement at 21 % accuracy, equal objectives within 0.04 %).
//
// Objectives: the stopping rules bound f(w) - f(w*) only by about |g|^2 / 2, so on near-separable
// data, where f is small, the two solvers' objectives differ by a few percent (the Newton
// iterates agree step for step at first: same step counts per class as liblinear-train).

import { describe, expect, test } from 'vitest';
import type { FeatureSet } from '../data/tables.js';
import { fitLinearSvm, predict, primalObjective, type SvmSolver } from '../numerics/svm/index.js';
import { syntheticReluFeatures } from '../numerics/svm/synthetic-features.js';
import { cosineSimilarity, runLiblinear } from './svm-fixture.js';

function rowWeights(model: { weights: Float64Array; biasWeights: Float64Array; dimension: number }, row: number): Float64Array {
  const d = model.dimension;
  const weights = new Float64Array(d + 1);
  weights.set(model.weights.subarray(row * d, (row + 1) * d));
  weights[d] = model.biasWeights[row];
  return weights;
}

async function compare(name: string, train: FeatureSet, test: FeatureSet, solver: SvmSolver, option: string) {
  const reference = await runLiblinear(train, test, ['-s', option, '-B', '1']);
  const model = await fitLinearSvm(train, { solver, C: 1, eps: 0, bias: 1 });
  const ours = predict(model, test);
  let agree = 0;
  let oursCorrect = 0;
  let referenceCorrect = 0;
  for (let i = 0; i < test.count; i++) {
    if (ours[i] === reference.predictions[i]) agree++;
    if (ours[i] === test.labels[i]) oursCorrect++;
    if (reference.predictions[i] === test.labels[i]) referenceCorrect++;
  }
  const rows = model.labels.map((_, row) => ({
    cosine: cosineSimilarity(rowWeights(model, row), rowWeights(reference.model, row)),
    ours: primalObjective(model, train, row),
    reference: primalObjective(reference.model, train, row),
  }));
  console.log(
    `${name}, ${solver} vs liblinear-train -s ${option} -B 1 (${train.count} x ${train.dimension} train, ${test.count} test): ` +
      `agreement ${((100 * agree) / test.count).toFixed(2)} %, accuracy ${((100 * oursCorrect) / test.count).toFixed(2)} % vs ` +
      `${((100 * referenceCorrect) / test.count).toFixed(2)} %, weight cosine min ${Math.min(...rows.map((r) => r.cosine)).toFixed(6)}, ` +
      `primal objective sum ${rows.reduce((s, r) => s + r.ours, 0).toFixed(4)} vs ${rows.reduce((s, r) => s + r.reference, 0).toFixed(4)}` +
      (reference.printedObjectives.length > 0
        ? `, dual objective sum ${model.fits.reduce((s, f) => s + f.objective, 0).toFixed(4)} vs ${reference.printedObjectives.reduce((s, v) => s + v, 0).toFixed(4)}`
        : '') +
      `; iterations ${model.fits.map((fit) => fit.iterations).join(' ')}`,
  );
  expect(reference.output).not.toContain('reaching max number of iterations');
  expect(model.fits.every((fit) => fit.converged)).toBe(true);
  expect(agree / test.count).toBeGreaterThanOrEqual(0.999);
  expect(Math.abs(oursCorrect - referenceCorrect) / test.count).toBeLessThanOrEqual(0.001);
  for (const row of rows) {
    expect(row.cosine).toBeGreaterThan(0.99);
    expect(Math.abs(row.ours - row.reference) / row.reference).toBeLessThan(0.05);
  }
  if (solver === 'dual-cd') {
    model.fits.forEach((fit, row) => expect(Math.abs(fit.objective - reference.printedObjectives[row])).toBeLessThan(0.01 * Math.abs(fit.objective)));
  }
}

describe('parity with liblinear-train', () => {
  const relu = (rowSeed: number) => syntheticReluFeatures({ count: 5000, dimension: 96, modelSeed: 7, rowSeed, separation: 0.8 });
  const reluTrain = relu(1);
  const reluTest = relu(2);

  test('dual-cd matches -s 1 on ReLU features', () => compare('synthetic ReLU', reluTrain, reluTest, 'dual-cd', '1'), 120_000);
  test('primal-newton matches -s 2 on ReLU features', () => compare('synthetic ReLU', reluTrain, reluTest, 'primal-newton', '2'), 120_000);
});
