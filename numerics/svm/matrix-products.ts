// The products the primal Newton solver needs, with the training matrix X (n x d) on the left, for
// k right-hand sides at once, on onnxruntime's CPU kernels (blocked, vectorized, multi-threaded).
//
//   times(V)                 X V                       V: d x k  ->  n x k   double
//   transposeTimes(U)        X' U                      U: n x k  ->  d x k   double
//   squaredTransposeTimes(U) (X o X)' U                U: n x k  ->  d x k   float32 (the diagonal preconditioner)
//   hessianTimes(V, B, D)    X' (D o (X V + B))        one conjugate-gradient step per column, double
//
// Double where the path is sensitive: with every product in float32, fits stopped at points 2 %
// apart in objective and disagreed with -s 2 on 1.7 % of test points, and with the Hessian
// products in float32 conjugate gradient took 15-25 % more steps on raw features (docs/speed.md).
// The preconditioner only scales the steps: float32 there halves the memory X o X takes.
//
// The products are bound by memory bandwidth, so the Hessian products, most of the work, run on
// the rows that count only: those with a nonzero weight in D for some column (LIBLINEAR's -s 2
// also restricts them to the active rows), copied together when they are at most a third of all.
//
// X is copied once to float64; X o X is computed once, in float32, on the first
// squaredTransposeTimes.

import ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder.js';
import { encodeModel } from '../onnx/model.js';
import { cpuSessionOptions } from '../onnx/session.js';

/** Hessian products run on a copy of the active rows when they are at most this share of all rows. */
const GATHER_BELOW = 1 / 3;

type Precision = 'double' | 'float';
const TENSOR_TYPE = { double: 'float64', float: 'float32' } as const;

/** Y = op(X, R) for X (n x d) and R, with symbolic dimensions. */
function productGraph(precision: Precision, op: 'MatMul' | 'Gemm', rightShape: readonly string[], outputShape: readonly string[], attributes: Record<string, number> = {}): Uint8Array {
  const graph = new GraphBuilder('svm-products');
  const left = graph.input('X', precision, ['n', 'd']);
  const right = graph.input('R', precision, rightShape);
  graph.output(graph.node(op, [left, right], attributes), 'Y', precision, outputShape);
  return encodeModel(graph.build());
}

/** Y = X' S and S, with S = D o (X V + B), in double: one Hessian-vector product per column of V. */
function hessianGraph(): Uint8Array {
  const graph = new GraphBuilder('svm-hessian-products');
  const left = graph.input('X', 'double', ['n', 'd']);
  const margins = graph.node('Add', [graph.node('MatMul', [left, graph.input('V', 'double', ['d', 'k'])]), graph.input('B', 'double', [1, 'k'])]);
  const scaled = graph.node('Mul', [margins, graph.input('D', 'double', ['n', 'k'])]);
  graph.output(graph.node('Gemm', [left, scaled], { transA: 1 }), 'Y', 'double', ['d', 'k']);
  graph.output(scaled, 'S', 'double', ['n', 'k']);
  return encodeModel(graph.build());
}

export interface MatrixProducts {
  times(right: Float64Array, columns: number): Promise<Float64Array>;
  transposeTimes(right: Float64Array, columns: number): Promise<Float64Array>;
  squaredTransposeTimes(right: Float32Array, columns: number): Promise<Float32Array>;
  /**
   * right: d x k, intercepts: 1 x k, rowWeights: n x k. Returns X' S (d x k) and the sum of each
   * column of S, for S = diag(rowWeights) (X right + intercepts).
   */
  hessianTimes(right: Float64Array, intercepts: Float64Array, rowWeights: Float64Array, columns: number): Promise<{ product: Float64Array; columnSums: Float64Array }>;
  release(): Promise<void>;
}

/** Products with `matrix` (rows x dimension, row-major, float32 as stored), copied once to float64. */
export async function matrixProducts(matrix: Float32Array, rows: number, dimension: number, threads: number): Promise<MatrixProducts> {
  const create = (graph: Uint8Array) => ort.InferenceSession.create(graph, cpuSessionOptions(threads));
  const transposed = { transA: 1 };
  const [times, transposeTimes, squaredTransposeTimes, hessianTimes] = await Promise.all([
    create(productGraph('double', 'MatMul', ['d', 'k'], ['n', 'k'])),
    create(productGraph('double', 'Gemm', ['n', 'k'], ['d', 'k'], transposed)),
    create(productGraph('float', 'Gemm', ['n', 'k'], ['d', 'k'], transposed)),
    create(hessianGraph()),
  ]);
  const shape = [rows, dimension];
  const exactValues = Float64Array.from(matrix);
  const exact = new ort.Tensor('float64', exactValues, shape);
  // The rows with a nonzero weight in some column, copied together into one buffer allocated once,
  // when they are few enough.
  const gatherCapacity = Math.floor(rows * GATHER_BELOW);
  let gatherBuffer: Float64Array | undefined;
  let gathered: { rows: Int32Array; matrix: ort.Tensor } | undefined;
  const activeRows = (rowWeights: Float64Array, columns: number) => {
    const chosen: number[] = [];
    for (let i = 0; i < rows; i++) {
      for (let c = i * columns; c < (i + 1) * columns; c++) {
        if (rowWeights[c] !== 0) {
          chosen.push(i);
          break;
        }
      }
    }
    if (chosen.length > gatherCapacity) return undefined;
    if (!gathered || gathered.rows.length !== chosen.length || chosen.some((row, at) => row !== gathered!.rows[at])) {
      gatherBuffer ??= new Float64Array(gatherCapacity * dimension);
      const values = gatherBuffer.subarray(0, chosen.length * dimension);
      chosen.forEach((row, at) => values.set(exactValues.subarray(row * dimension, (row + 1) * dimension), at * dimension));
      gathered = { rows: Int32Array.from(chosen), matrix: new ort.Tensor('float64', values, [chosen.length, dimension]) };
    }
    const weights = new Float64Array(chosen.length * columns);
    chosen.forEach((row, at) => weights.set(rowWeights.subarray(row * columns, (row + 1) * columns), at * columns));
    return { rows: gathered.rows, matrix: gathered.matrix, weights };
  };
  let squares: ort.Tensor | undefined;
  const squared = () => {
    if (!squares) {
      // A loop, not matrix.map: a third faster on these 10^8 values (measured: 0.94 s against 1.41 s per 6 x 10^7).
      const values = new Float32Array(matrix.length);
      for (let i = 0; i < matrix.length; i++) values[i] = matrix[i] * matrix[i];
      squares = new ort.Tensor('float32', values, shape);
    }
    return squares;
  };
  const run = async <P extends Precision>(session: ort.InferenceSession, precision: P, left: ort.Tensor, right: Float64Array | Float32Array, rightRows: number, columns: number) => {
    const output = await session.run({ X: left, R: new ort.Tensor(TENSOR_TYPE[precision], right, [rightRows, columns]) });
    return output.Y.data as P extends 'double' ? Float64Array : Float32Array;
  };
  return {
    times: (right, columns) => run(times, 'double', exact, right, dimension, columns),
    transposeTimes: (right, columns) => run(transposeTimes, 'double', exact, right, rows, columns),
    squaredTransposeTimes: (right, columns) => run(squaredTransposeTimes, 'float', squared(), right, rows, columns),
    hessianTimes: async (right, intercepts, rowWeights, columns) => {
      const active = activeRows(rowWeights, columns);
      const output = await hessianTimes.run({
        X: active ? active.matrix : exact,
        V: new ort.Tensor('float64', right, [dimension, columns]),
        B: new ort.Tensor('float64', intercepts, [1, columns]),
        D: new ort.Tensor('float64', active ? active.weights : rowWeights, [active ? active.rows.length : rows, columns]),
      });
      const scaled = output.S.data as Float64Array;
      const columnSums = new Float64Array(columns);
      for (let at = 0; at < scaled.length; at++) columnSums[at % columns] += scaled[at];
      return { product: output.Y.data as Float64Array, columnSums };
    },
    release: async () => {
      await Promise.all([times, transposeTimes, squaredTransposeTimes, hessianTimes].map((session) => session.release()));
    },
  };
}
