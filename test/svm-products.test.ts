// primal-newton's double products (products.wat) against onnxruntime's DGEMM, on which they ran
// before: every bit alike, so that a fit lands where it did. On real MobileNet features (the main
// config's conv_pw_5_relu at 32), their first 777 columns (an odd width), and 7 columns (fewer than
// the classes: MLAS's other stride rule); k from 1 to 20 (the blocks of X V are 512, 256 and 128
// wide in that range); few, some and most rows active (copied or not before the Hessian product);
// one, two and three threads.

import ort from 'onnxruntime-node';
import { beforeAll, expect, test } from 'vitest';
import type { FeatureSet } from '../data/tables.js';
import { GraphBuilder } from '../numerics/onnx/builder.js';
import { encodeModel } from '../numerics/onnx/model.js';
import { cpuSessionOptions } from '../numerics/onnx/session.js';
import { dgemmDepthBlock, matrixProducts } from '../numerics/svm/matrix-products.js';
import { realFeatures } from './svm-fixture.js';

let train: FeatureSet;
beforeAll(async () => {
  ({ train } = await realFeatures({ train: 30, test: 1 }, { inputSize: 32, featureLayer: 'conv_pw_5_relu' }));
}, 300_000);

/** The products as onnxruntime computes them: X V, X' U and X' (D o (X V + B)), in double. */
async function onnxruntimeProducts(matrix: Float32Array, rows: number, d: number) {
  const x = new ort.Tensor('float64', Float64Array.from(matrix), [rows, d]);
  const session = async (build: (graph: GraphBuilder, x: string) => void) => {
    const graph = new GraphBuilder('reference');
    build(graph, graph.input('X', 'double', ['n', 'd']));
    return ort.InferenceSession.create(encodeModel(graph.build()), cpuSessionOptions(2));
  };
  const times = await session((graph, left) => graph.output(graph.node('MatMul', [left, graph.input('R', 'double', ['d', 'k'])]), 'Y', 'double', ['n', 'k']));
  const transposeTimes = await session((graph, left) =>
    graph.output(graph.node('Gemm', [left, graph.input('R', 'double', ['n', 'k'])], { transA: 1 }), 'Y', 'double', ['d', 'k']),
  );
  const hessian = await session((graph, left) => {
    const margins = graph.node('Add', [graph.node('MatMul', [left, graph.input('V', 'double', ['d', 'k'])]), graph.input('B', 'double', [1, 'k'])]);
    const scaled = graph.node('Mul', [margins, graph.input('D', 'double', ['n', 'k'])]);
    graph.output(graph.node('Gemm', [left, scaled], { transA: 1 }), 'Y', 'double', ['d', 'k']);
    graph.output(scaled, 'S', 'double', ['n', 'k']);
  });
  const tensor = (values: Float64Array, shape: number[]) => new ort.Tensor('float64', values, shape);
  return {
    times: async (v: Float64Array, k: number) => (await times.run({ X: x, R: tensor(v, [d, k]) })).Y.data as Float64Array,
    transposeTimes: async (u: Float64Array, k: number) => (await transposeTimes.run({ X: x, R: tensor(u, [rows, k]) })).Y.data as Float64Array,
    hessianTimes: async (v: Float64Array, b: Float64Array, weights: Float64Array, k: number) => {
      // onnxruntime multiplied a copy of the active rows when they were at most a third of all.
      const active = Array.from({ length: rows }, (_, i) => i).filter((i) => weights.subarray(i * k, (i + 1) * k).some((w) => w !== 0));
      const gathered = active.length <= Math.floor(rows / 3);
      const kept = gathered ? active : Array.from({ length: rows }, (_, i) => i);
      const left = gathered ? tensor(Float64Array.from(active.flatMap((i) => Array.from(matrix.subarray(i * d, (i + 1) * d)))), [active.length, d]) : x;
      const rowWeights = Float64Array.from(kept.flatMap((i) => Array.from(weights.subarray(i * k, (i + 1) * k))));
      const output = await hessian.run({ X: left, V: tensor(v, [d, k]), B: tensor(b, [1, k]), D: tensor(rowWeights, [kept.length, k]) });
      const scaled = output.S.data as Float64Array;
      const sums = new Float64Array(k);
      for (let at = 0; at < scaled.length; at++) sums[at % k] += scaled[at];
      return { product: output.Y.data as Float64Array, columnSums: sums };
    },
    release: () => Promise.all([times, transposeTimes, hessian].map((s) => s.release())),
  };
}

/** Indices where a and b differ in any bit (Object.is: -0 is not +0). */
function differences(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let count = 0;
  for (let at = 0; at < a.length; at++) if (!Object.is(a[at], b[at])) count++;
  return count;
}

/** A deterministic stream in [-0.5, 0.5). */
function waves(length: number, seed: number): Float64Array {
  return Float64Array.from({ length }, (_, at) => (((Math.sin(at * 12.9898 + seed * 78.233) * 43758.5453) % 1) + 1) % 1 - 0.5);
}

test('MLAS widens the block of X V for narrow products: 512 up to 16 columns, 256 up to 32, then 128', () => {
  expect([1, 10, 16, 17, 32, 33, 64].map((k) => dgemmDepthBlock(k, 3072))).toEqual([512, 512, 512, 256, 256, 128, 128]);
  // As many columns as terms: one block of all of them when they are at most 128.
  expect(dgemmDepthBlock(10, 7)).toBe(8);
});

for (const [width, threads] of [
  [3072, 2],
  [777, 3],
  [7, 1],
] as const) {
  test(`every bit of X V, X' U and the Hessian products as onnxruntime's: ${width} features, ${threads} thread(s)`, async () => {
    const rows = train.count;
    const matrix = new Float32Array(rows * width);
    for (let i = 0; i < rows; i++) matrix.set(train.features.subarray(i * train.dimension, i * train.dimension + width), i * width);
    const reference = await onnxruntimeProducts(matrix, rows, width);
    const products = await matrixProducts(matrix, rows, width, threads, 20);
    try {
      // Buffers are sized for 20 right-hand sides: 21 is refused rather than written past them.
      await expect(products.times(waves(width * 21, 0), 21)).rejects.toThrow(/21 right-hand sides/);
      for (const k of [1, 2, 5, 10, 17, 20]) {
        const v = waves(width * k, k);
        const u = waves(rows * k, k + 100);
        expect(differences(await products.times(v, k), await reference.times(v, k))).toBe(0);
        expect(differences(await products.transposeTimes(u, k), await reference.transposeTimes(u, k))).toBe(0);
        const intercepts = waves(k, k + 200);
        // Rows active in a column with these probabilities: copied (few), then all rows (some, most).
        for (const share of [0.05, 0.3, 0.9]) {
          const weights = waves(rows * k, k + 300).map((w) => (w + 0.5 < share ? 2 * (w + 0.5) : 0));
          const expected = await reference.hessianTimes(v, intercepts, weights, k);
          const actual = await products.hessianTimes(v, intercepts, weights, k);
          expect(differences(actual.product, expected.product)).toBe(0);
          expect(differences(actual.columnSums, expected.columnSums)).toBe(0);
        }
      }
    } finally {
      await products.release();
      await reference.release();
    }
  }, 120_000);
}
