// Prediction on many rows at once: the decision values as one double-precision matrix product per
// block of rows in onnxruntime, for the evaluate and fit-reference-svm stages (60,000 rows x 3,072
// features x 10 classes: about 3 s in decisionValues' JavaScript loop, a fraction of a second here).
//
// The float32 features are copied to double a block at a time (onnxruntime's Cast was 20 times
// slower than the product), so no float64 copy of the whole set is ever held. The products sum in another order than liblinear-predict's loop
// (model.ts decisionValues, which the tests compare with it): the values agree to rounding, and a
// prediction can differ only where two classes tie to ~1e-15.

import ort from 'onnxruntime-node';
import type { FeatureSet } from '../../data/tables.js';
import { GraphBuilder } from '../onnx/builder.js';
import { encodeModel } from '../onnx/model.js';
import { cpuSessionOptions } from '../onnx/session.js';
import { checkCompatible, predictionsFrom, type LinearSvmModel } from './model.js';

// Small blocks: the copy stays in cache, and first touching fresh memory is slow (0.5 s for 100 MB here).
const BLOCK_ROWS = 256;

/** Y = X W + B for X: n x d, W: d x rows, B: 1 x rows. */
function decisionGraph(): Uint8Array {
  const graph = new GraphBuilder('svm-decision-values');
  const values = graph.node('MatMul', [graph.input('X', 'double', ['n', 'd']), graph.input('W', 'double', ['d', 'r'])]);
  graph.output(graph.node('Add', [values, graph.input('B', 'double', [1, 'r'])]), 'Y', 'double', ['n', 'r']);
  return encodeModel(graph.build());
}

/** decisionValues computed by onnxruntime: count x rows, row-major. */
export async function decisionValuesInBlocks(model: LinearSvmModel, set: FeatureSet, threads = 2): Promise<Float64Array> {
  checkCompatible(model, set);
  const rows = model.biasWeights.length;
  const d = model.dimension;
  const transposed = new Float64Array(d * rows);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) transposed[j * rows + r] = model.weights[r * d + j];
  const intercepts = model.biasWeights.map((weight) => (model.settings.bias >= 0 ? model.settings.bias * weight : 0));
  const session = await ort.InferenceSession.create(decisionGraph(), cpuSessionOptions(threads));
  try {
    const W = new ort.Tensor('float64', transposed, [d, rows]);
    const B = new ort.Tensor('float64', intercepts, [1, rows]);
    const values = new Float64Array(set.count * rows);
    const block = new Float64Array(Math.min(BLOCK_ROWS, set.count) * d);
    for (let start = 0; start < set.count; start += BLOCK_ROWS) {
      const count = Math.min(BLOCK_ROWS, set.count - start);
      block.set(set.features.subarray(start * d, (start + count) * d));
      const X = new ort.Tensor('float64', block.subarray(0, count * d), [count, d]);
      values.set((await session.run({ X, W, B })).Y.data as Float64Array, start * rows);
    }
    return values;
  } finally {
    await session.release();
  }
}

/** predict, with the decision values from decisionValuesInBlocks. */
export async function predictInBlocks(model: LinearSvmModel, set: FeatureSet, threads = 2): Promise<Uint8Array> {
  return predictionsFrom(model, await decisionValuesInBlocks(model, set, threads));
}

/** Fraction of rows of `set` predictInBlocks classifies correctly. */
export async function accuracyInBlocks(model: LinearSvmModel, set: FeatureSet, threads = 2): Promise<number> {
  const predictions = await predictInBlocks(model, set, threads);
  let correct = 0;
  for (let i = 0; i < set.count; i++) if (predictions[i] === set.labels[i]) correct++;
  return correct / set.count;
}
