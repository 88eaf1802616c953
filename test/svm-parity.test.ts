// Parity with the real LIBLINEAR 2.3 (liblinear-train / liblinear-predict, Debian's liblinear-tools).
//
// Real features: MobileNet v1 0.75 at input 64, conv_pw_7_relu (6144-d: the widest features the study considered, see README)
// of the first CIFAR-10 images of each class, computed as the featurize stage does and handed to
// liblinear-train through the project's libsvm writer.
//
// Tolerance: on these features the stopping rules leave the solution where the path leaves it,
// so each comparison runs both tools with the same tolerance, tight enough that the reference
// itself has settled:
//   -s 1: at the default -e 0.1 the fit depends on the order of the coordinates (LIBLINEAR's
//         rand(), which we do not replay): 99.4 % agreement on 2000 x 6144, while LIBLINEAR's
//         own -e 0.01 and -e 0.001 fits agree on 99.95 % (3000 x 6144). Asserted at -e 0.01.
//   -s 2: the Newton stop |g| <= eps |g0| is far from the optimum on these unnormalized features
//         (|g0| ~ 5e5; LIBLINEAR's own -s 2 at -e 0.01 ends at about 4 times the objective -s 1
//         reaches, and its -e 0.01 and -e 0.001 fits agree on 98 %), so two faithful solvers
//         stop at different points. On real features: the same Newton step counts (+-1), total
//         objectives within 10 % (measured 2.4 % apart on 2000 rows, 5.7 % on 1500), accuracies
//         within 1 point. Prediction parity for -s 2 is asserted on synthetic ReLU features,
//         where -s 2 converges.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FeatureSet } from '../data/tables.js';
import { fitLinearSvm, predict, primalObjective, type LinearSvmModel, type SvmSolver } from '../numerics/svm/index.js';
import { syntheticReluFeatures } from './support/synthetic-features.js';
import { cosineSimilarity, realFeatures, runLiblinear, writeLibsvmFiles, type LibsvmFiles, type ReferenceRun } from './svm-fixture.js';

const PER_CLASS = { train: 150, test: 100 };
const FEATURE_SETTING = { inputSize: 64, featureLayer: 'conv_pw_7_relu' };

function rowWeights(model: LinearSvmModel, row: number): Float64Array {
  const d = model.dimension;
  const weights = new Float64Array(d + 1);
  weights.set(model.weights.subarray(row * d, (row + 1) * d));
  weights[d] = model.biasWeights[row];
  return weights;
}

interface Comparison {
  readonly agreement: number;
  readonly accuracies: { ours: number; reference: number };
  /** Per decision row of ours, matched to the reference's row of the same label (liblinear-train orders labels as first seen). */
  readonly rows: { cosine: number; ours: number; reference: number; oursIterations: number; referenceIterations: number }[];
}

async function compare(files: LibsvmFiles, solver: SvmSolver, option: string, eps: number): Promise<{ comparison: Comparison; reference: ReferenceRun; model: LinearSvmModel }> {
  const { train, test } = files;
  const reference = runLiblinear(files, ['-s', option, '-e', String(eps), '-B', '1']);
  const model = await fitLinearSvm(train, { solver, C: 1, eps, bias: 1 });
  expect(predict(reference.model, test), 'the reference model, read back, predicts as liblinear-predict').toEqual(reference.predictions);
  const ours = predict(model, test);
  let agree = 0;
  let oursCorrect = 0;
  let referenceCorrect = 0;
  for (let i = 0; i < test.count; i++) {
    if (ours[i] === reference.predictions[i]) agree++;
    if (ours[i] === test.labels[i]) oursCorrect++;
    if (reference.predictions[i] === test.labels[i]) referenceCorrect++;
  }
  const rows = model.labels.map((label, row) => {
    const referenceRow = reference.model.labels.indexOf(label);
    return {
      cosine: cosineSimilarity(rowWeights(model, row), rowWeights(reference.model, referenceRow)),
      ours: primalObjective(model, train, row),
      reference: primalObjective(reference.model, train, referenceRow),
      oursIterations: model.fits[row].iterations,
      referenceIterations: reference.iterations[referenceRow],
    };
  });
  const comparison = { agreement: agree / test.count, accuracies: { ours: oursCorrect / test.count, reference: referenceCorrect / test.count }, rows };
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0).toFixed(4);
  console.log(
    `${solver} vs liblinear-train -s ${option} -e ${eps} -B 1 on ${train.description.source} (${train.count} x ${train.dimension} train, ${test.count} test): ` +
      `agreement ${(100 * comparison.agreement).toFixed(2)} %, accuracy ${(100 * comparison.accuracies.ours).toFixed(2)} % vs ` +
      `${(100 * comparison.accuracies.reference).toFixed(2)} %, weight cosine min ${Math.min(...rows.map((r) => r.cosine)).toFixed(6)}, ` +
      `primal objective sum ${sum(rows.map((r) => r.ours))} vs ${sum(rows.map((r) => r.reference))}` +
      (solver === 'dual-cd' ? `, dual objective sum ${sum(model.fits.map((f) => f.objective))} vs ${sum(reference.printedObjectives)}` : '') +
      `; iterations per class ${rows.map((r) => r.oursIterations).join(' ')} vs ${rows.map((r) => r.referenceIterations).join(' ')}`,
  );
  expect(reference.output).not.toContain('reaching max number of iterations');
  expect(model.fits.every((fit) => fit.converged)).toBe(true);
  return { comparison, reference, model };
}

function expectPredictionParity({ agreement, accuracies, rows }: Comparison) {
  expect(agreement).toBeGreaterThanOrEqual(0.999);
  expect(Math.abs(accuracies.ours - accuracies.reference)).toBeLessThanOrEqual(0.001);
  for (const row of rows) {
    expect(row.cosine).toBeGreaterThan(0.99);
    expect(Math.abs(row.ours - row.reference) / row.reference).toBeLessThan(0.05);
  }
}

describe('parity with liblinear-train on real MobileNet features', () => {
  let files: LibsvmFiles;
  beforeAll(async () => {
    const { train, test } = await realFeatures(PER_CLASS, FEATURE_SETTING);
    files = await writeLibsvmFiles(train, test);
  }, 300_000);
  afterAll(() => files?.remove());

  test('dual-cd matches -s 1', async () => {
    const { comparison, reference, model } = await compare(files, 'dual-cd', '1', 0.01);
    expectPredictionParity(comparison);
    model.fits.forEach((fit, row) => {
      const printed = reference.printedObjectives[reference.model.labels.indexOf(model.labels[row])];
      expect(Math.abs(fit.objective - printed)).toBeLessThan(0.01 * Math.abs(fit.objective));
    });
  }, 180_000);

  test('primal-newton takes the steps of -s 2', async () => {
    const { comparison } = await compare(files, 'primal-newton', '2', 0.01);
    expect(Math.abs(comparison.accuracies.ours - comparison.accuracies.reference)).toBeLessThanOrEqual(0.01);
    for (const row of comparison.rows) expect(Math.abs(row.oursIterations - row.referenceIterations)).toBeLessThanOrEqual(1);
    const total = (side: 'ours' | 'reference') => comparison.rows.reduce((sum, row) => sum + row[side], 0);
    expect(Math.abs(total('ours') - total('reference')) / total('reference')).toBeLessThan(0.1);
  }, 120_000);
});

describe('parity with liblinear-train on synthetic ReLU features, where -s 2 converges', () => {
  let files: LibsvmFiles;
  beforeAll(async () => {
    const relu = (rowSeed: number): FeatureSet => syntheticReluFeatures({ count: 5000, dimension: 96, modelSeed: 7, rowSeed, separation: 0.8 });
    files = await writeLibsvmFiles(relu(1), relu(2));
  });
  afterAll(() => files?.remove());

  test('primal-newton matches -s 2', async () => {
    const { comparison } = await compare(files, 'primal-newton', '2', 0.01);
    expectPredictionParity(comparison);
  }, 120_000);
});
