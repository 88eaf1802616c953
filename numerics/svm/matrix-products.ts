// The three products the primal Newton solver needs, with the training matrix X (n x d) on the
// left, for k right-hand sides at once, on onnxruntime's CPU kernels (blocked, vectorized,
// multi-threaded), in double precision as LIBLINEAR computes them: the Newton path is sensitive
// to rounding (with float32 products, fits stopped at points 2 % apart in objective and
// disagreed with -s 2 on 1.7 % of test points). Measured on 2 cores with 50,000 x 3,072 and
// k = 10: 75-95 ms per product in double, 50-70 ms in float32.
//
//   times(V)               X V             V: d x k  ->  n x k
//   transposeTimes(U)      X' U            U: n x k  ->  d x k
//   squaredTransposeTimes  (X o X)' U      U: n x k  ->  d x k   (the diagonal preconditioner)
//
// X is copied once to float64. X o X is computed once, on the first squaredTransposeTimes, and
// kept (n x d float64 more memory): squaring inside the graph allocated and filled that much on
// every call.

import ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder.js';
import { encodeModel } from '../onnx/model.js';

/** Y = op(X, R) for float64 X (n x d) and R, with symbolic dimensions. */
function productGraph(op: 'MatMul' | 'Gemm', rightShape: readonly string[], outputShape: readonly string[], attributes: Record<string, number> = {}): Uint8Array {
  const graph = new GraphBuilder('svm-products');
  const left = graph.input('X', 'double', ['n', 'd']);
  const right = graph.input('R', 'double', rightShape);
  graph.output(graph.node(op, [left, right], attributes), 'Y', 'double', outputShape);
  return encodeModel(graph.build());
}

export interface MatrixProducts {
  times(right: Float64Array, columns: number): Promise<Float64Array>;
  transposeTimes(right: Float64Array, columns: number): Promise<Float64Array>;
  squaredTransposeTimes(right: Float64Array, columns: number): Promise<Float64Array>;
  release(): Promise<void>;
}

/** Products with `matrix` (rows x dimension, row-major), copied once to float64. */
export async function matrixProducts(matrix: Float32Array, rows: number, dimension: number, threads: number): Promise<MatrixProducts> {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const [times, transposeTimes] = await Promise.all([
    ort.InferenceSession.create(productGraph('MatMul', ['d', 'k'], ['n', 'k']), options),
    ort.InferenceSession.create(productGraph('Gemm', ['n', 'k'], ['d', 'k'], { transA: 1 }), options),
  ]);
  const exact = Float64Array.from(matrix);
  const left = new ort.Tensor('float64', exact, [rows, dimension]);
  let squaredLeft: ort.Tensor | undefined;
  const run = async (target: ort.InferenceSession, leftTensor: ort.Tensor, right: Float64Array, rightRows: number, columns: number) => {
    const output = await target.run({ X: leftTensor, R: new ort.Tensor('float64', right, [rightRows, columns]) });
    return output.Y.data as Float64Array;
  };
  const squares = () => {
    if (!squaredLeft) {
      const squared = new Float64Array(exact.length);
      for (let k = 0; k < exact.length; k++) squared[k] = exact[k] * exact[k];
      squaredLeft = new ort.Tensor('float64', squared, [rows, dimension]);
    }
    return squaredLeft;
  };
  return {
    times: (right, columns) => run(times, left, right, dimension, columns),
    transposeTimes: (right, columns) => run(transposeTimes, left, right, rows, columns),
    squaredTransposeTimes: (right, columns) => run(transposeTimes, squares(), right, rows, columns),
    release: async () => {
      await Promise.all([times.release(), transposeTimes.release()]);
    },
  };
}
