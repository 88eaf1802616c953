// The fast paths of the SVM against their plain definitions, on real MobileNet features (the main
// config's conv_pw_5_relu at 32): the Hessian products of primal-newton, on all rows and on a copy
// of the active rows, and the evaluate stage's blocked prediction.

import { beforeAll, expect, test } from 'vitest';
import type { FeatureSet } from '../data/tables.js';
import { fitLinearSvm, decisionValues, predict } from '../numerics/svm/index.js';
import { decisionValuesInBlocks, predictInBlocks } from '../numerics/svm/fast-predict.js';
import { matrixProducts } from '../numerics/svm/matrix-products.js';
import { realFeatures } from './svm-fixture.js';

let train: FeatureSet;
let test_: FeatureSet;
beforeAll(async () => {
  // 300 rows each: more than one 256-row block of the blocked prediction.
  ({ train, test: test_ } = await realFeatures({ train: 30, test: 30 }, { inputSize: 32, featureLayer: 'conv_pw_5_relu' }));
}, 300_000);

function largestRelativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let largest = 0;
  for (let k = 0; k < a.length; k++) scale = Math.max(scale, Math.abs(b[k]));
  for (let k = 0; k < a.length; k++) largest = Math.max(largest, Math.abs(a[k] - b[k]) / scale);
  return largest;
}

test('Hessian products X\'(D o (X V + B)) on all rows and on the gathered active rows', async () => {
  const { count: n, dimension: d, features: x } = train;
  const products = await matrixProducts(x, n, d, 2, 3);
  try {
    const k = 3;
    const right = Float64Array.from({ length: d * k }, (_, at) => Math.sin(at) / 100);
    const intercepts = Float64Array.of(0.5, -1, 2);
    // All rows weighted, then a fifth of them (gathered), then another fifth (gathered again).
    for (const keep of [(_row: number) => true, (i: number) => i % 5 === 0, (i: number) => i % 5 === 2]) {
      const rowWeights = Float64Array.from({ length: n * k }, (_, at) => (keep(Math.floor(at / k)) && at % k !== 1 ? 1 + (at % 3) : 0));
      const expected = new Float64Array(d * k);
      const sums = new Float64Array(k);
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < k; c++) {
          let margin = intercepts[c];
          for (let j = 0; j < d; j++) margin += x[i * d + j] * right[j * k + c];
          const scaled = rowWeights[i * k + c] * margin;
          sums[c] += scaled;
          for (let j = 0; j < d; j++) expected[j * k + c] += x[i * d + j] * scaled;
        }
      }
      const { product, columnSums } = await products.hessianTimes(right, intercepts, rowWeights, k);
      expect(largestRelativeDifference(product, expected)).toBeLessThan(1e-12);
      expect(largestRelativeDifference(columnSums, sums)).toBeLessThan(1e-12);
    }
  } finally {
    await products.release();
  }
}, 120_000);

test('blocked prediction: the decision values of the plain loop to rounding, the same predictions', async () => {
  const tenClasses = await fitLinearSvm(train, { solver: 'primal-newton', C: 1, eps: 0, bias: 1 });
  const twoClasses = await fitLinearSvm(
    { ...train, labels: train.labels.map((label) => (label < 5 ? 2 : 7)) },
    { solver: 'dual-cd', C: 1, eps: 0, bias: -1 },
  );
  for (const model of [tenClasses, twoClasses]) {
    for (const set of [train, test_]) {
      expect(largestRelativeDifference(await decisionValuesInBlocks(model, set), decisionValues(model, set))).toBeLessThan(1e-13);
      expect(await predictInBlocks(model, set, 1)).toEqual(predict(model, set));
    }
  }
}, 120_000);
