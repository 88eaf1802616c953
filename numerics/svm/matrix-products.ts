// The products the primal Newton solver needs, with the training matrix X (n x d) on the left, for
// k right-hand sides at once:
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
// The double products run in products.wat, on worker threads that share its memory, with the
// roundings of onnxruntime's DGEMM (MLAS), on which they ran before: each element is a sum over
// the inner dimension cut into blocks, one fused multiply-add after the other from zero within a
// block, the blocks added in order. The blocks are 128 rows for X' U and, for X V, a width that
// depends on k (dgemmDepthBlock). So a fit's every bit is what it was, while X is read once per
// Hessian product, as float32, instead of twice in double; test/svm-products.test.ts compares the
// two bit for bit. The float32 product stays on onnxruntime: for one column MLAS's SGEMM takes
// another path, whose order of additions these kernels do not reproduce.
//
// The Hessian products skip the rows whose weights are all zero (LIBLINEAR's -s 2 also restricts
// them to the active rows): adding x * 0 to a sum that started from +0 changes no bit. Where the
// active rows are at most a third of all, onnxruntime used to multiply a copy of them, so its
// blocks of 128 were blocks of active rows; otherwise blocks of all rows. The same rule keeps the
// same blocks.

import ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { builtFile } from '../built-file.js';
import { GraphBuilder } from '../onnx/builder.js';
import { encodeModel } from '../onnx/model.js';
import { cpuSessionOptions } from '../onnx/session.js';

/** Hessian products sum the active rows in blocks of their own when they are at most this share of all rows. */
const GATHER_BELOW = 1 / 3;
/** MLAS's DGEMM sums a transposed left matrix's rows in blocks of this many. */
const ROW_BLOCK = 128;
/** Work items: rows per item of the margins task, feature pairs per item of the combine task. */
const MARGIN_ROWS = 256;
const COMBINE_PAIRS = 32;

/**
 * How many of the d terms of an element of X V (k columns) MLAS's DGEMM sums in one block: its
 * K stride, widened for narrow outputs (onnxruntime's mlas/lib/dgemm.cpp; measured, see
 * test/svm-products.test.ts).
 */
export function dgemmDepthBlock(columns: number, depth: number): number {
  let strideN = 64;
  let strideK = 128;
  if (columns >= depth) {
    while (strideK / 2 >= depth) strideK /= 2;
  } else {
    while (strideN > 16 && strideN / 2 >= columns) {
      strideK *= 2;
      strideN /= 2;
    }
  }
  return strideK;
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

// The kernels' tasks and the indices of their parameters (products.wat, `work`).
const TASK = { margins: 1, hessian: 2, transposeTimes: 3, combine: 4 } as const;
const PARAM = {
  x: 0, dimension: 1, rows: 2, count: 3, right: 4, paddedColumns: 5, columns: 6, depthBlock: 7, intercepts: 8,
  rowWeights: 9, scaled: 10, scaledStride: 11, partials: 12, blocks: 13, blockStarts: 14, out: 15, scratch: 16, items: 17,
} as const;
const CONTROL_BYTES = 256;
const PAGE_BYTES = 65536;
const MAX_PAGES = 65536;

let kernels: WebAssembly.Module | undefined;
/** products.wasm, compiled once; Node 20 runs relaxed SIMD (the fused multiply-add) only behind a flag. */
function compiledKernels(): WebAssembly.Module {
  if (kernels) return kernels;
  const bytes = readFileSync(builtFile('numerics/svm/products.wasm', import.meta.url));
  if (!WebAssembly.validate(bytes)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  kernels = new WebAssembly.Module(bytes);
  return kernels;
}

// A worker runs `work` each time the generation (control[0]) changes and counts itself done in
// control[1]. A failure, even to instantiate, sets control[FAILED] instead of ending the worker,
// so the main thread, which waits in Atomics.wait and so handles no event, is never left waiting.
const FAILED = 62;
const workerSource = `
const { workerData } = require('node:worker_threads');
const { module, memory } = workerData;
const control = new Int32Array(memory.buffer, 0, 64);
let work;
try { work = new WebAssembly.Instance(module, { env: { memory } }).exports.work; } catch {}
for (let seen = 0; ; ) {
  Atomics.wait(control, 0, seen);
  seen = Atomics.load(control, 0);
  if (seen < 0) break;
  try { work(); } catch { Atomics.store(control, ${FAILED}, 1); }
  Atomics.add(control, 1, 1);
  Atomics.notify(control, 1);
}`;

/** The float32 preconditioner product (X o X)' U on onnxruntime. */
async function squaredProduct(matrix: Float32Array, rows: number, dimension: number, threads: number) {
  const graph = new GraphBuilder('svm-squared-products');
  const left = graph.input('X', 'float', ['n', 'd']);
  graph.output(graph.node('Gemm', [left, graph.input('R', 'float', ['n', 'k'])], { transA: 1 }), 'Y', 'float', ['d', 'k']);
  const session = await ort.InferenceSession.create(encodeModel(graph.build()), cpuSessionOptions(threads));
  let squares: ort.Tensor | undefined;
  return {
    times: async (right: Float32Array, columns: number) => {
      if (!squares) {
        // A loop, not matrix.map: a third faster on these 10^8 values (measured: 0.94 s against 1.41 s per 6 x 10^7).
        const values = new Float32Array(matrix.length);
        for (let i = 0; i < matrix.length; i++) values[i] = matrix[i] * matrix[i];
        squares = new ort.Tensor('float32', values, [rows, dimension]);
      }
      const output = await session.run({ X: squares, R: new ort.Tensor('float32', right, [rows, columns]) });
      return output.Y.data as Float32Array;
    },
    release: () => session.release(),
  };
}

/**
 * Products with `matrix` (rows x dimension, row-major, float32 as stored) for up to `maxColumns`
 * right-hand sides at once, on `threads` threads (this one and threads - 1 workers).
 */
export async function matrixProducts(matrix: Float32Array, rows: number, dimension: number, threads: number, maxColumns: number): Promise<MatrixProducts> {
  const d = dimension;
  const paddedMax = maxColumns + (maxColumns % 2);
  const pairs = Math.ceil(d / 2);
  const blocksMax = Math.ceil(rows / ROW_BLOCK);
  const combineItems = Math.ceil(pairs / COMBINE_PAIRS);

  // One memory for X and every buffer of the kernels, regions aligned to cache lines.
  let end = CONTROL_BYTES;
  const region = (bytes: number) => {
    const start = end;
    end += Math.ceil(bytes / 64) * 64;
    return start;
  };
  const at = {
    x: region(rows * d * 4),
    allRows: region(rows * 4),
    activeRows: region(rows * 4),
    right: region(d * paddedMax * 8),
    intercepts: region(paddedMax * 8),
    rowWeights: region(rows * maxColumns * 8),
    scaled: region(rows * paddedMax * 8),
    partials: region(blocksMax * pairs * maxColumns * 16),
    blockStarts: region((blocksMax + 1) * 4),
    out: region(Math.max(rows * paddedMax, d * maxColumns) * 8),
    scratch: region(Math.max(combineItems * COMBINE_PAIRS * 16, blocksMax * 32) * maxColumns),
  };
  const pages = Math.ceil(end / PAGE_BYTES);
  if (pages > MAX_PAGES) {
    throw new Error(`SVM products: ${rows} x ${d} features with ${maxColumns} classes need ${(end / 2 ** 30).toFixed(1)} GiB, over WebAssembly's 4 GiB`);
  }
  const module = compiledKernels();
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const buffer = memory.buffer as unknown as SharedArrayBuffer;
  const { work } = new WebAssembly.Instance(module, { env: { memory } }).exports as { work: () => void };
  new Float32Array(buffer, at.x, rows * d).set(matrix);
  const allRows = new Int32Array(buffer, at.allRows, rows);
  for (let i = 0; i < rows; i++) allRows[i] = i;
  const control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
  const setParams = (values: Partial<Record<keyof typeof PARAM, number>>) => {
    for (const [name, value] of Object.entries(values)) control[4 + PARAM[name as keyof typeof PARAM]] = value;
  };
  setParams({ x: at.x, dimension: d, scratch: at.scratch, partials: at.partials, blockStarts: at.blockStarts, out: at.out });
  const doubles = (offset: number, length: number) => new Float64Array(buffer, offset, length);

  const workers = Array.from({ length: Math.max(0, threads - 1) }, () => {
    const worker = new Worker(workerSource, { eval: true, workerData: { module, memory } });
    worker.unref();
    return worker;
  });
  const runTask = (task: number, items: number) => {
    control[3] = task;
    setParams({ items });
    Atomics.store(control, 2, 0);
    Atomics.store(control, 1, 0);
    Atomics.add(control, 0, 1);
    Atomics.notify(control, 0);
    try {
      work();
    } finally {
      for (let done; (done = Atomics.load(control, 1)) < workers.length; ) Atomics.wait(control, 1, done);
    }
    if (Atomics.load(control, FAILED) !== 0) throw new Error('SVM products: a worker thread failed');
  };
  const checkColumns = (columns: number) => {
    if (!(columns >= 1 && columns <= maxColumns)) throw new Error(`SVM products: ${columns} right-hand sides, for buffers sized for 1 to ${maxColumns}`);
  };
  /** Writes V (d x k) into the kernels' right-hand side, padded to an even number of columns. */
  const setRight = (right: Float64Array, columns: number) => {
    checkColumns(columns);
    const padded = columns + (columns % 2);
    const target = doubles(at.right, d * padded);
    if (padded !== columns) target.fill(0);
    for (let j = 0; j < d; j++) target.set(right.subarray(j * columns, (j + 1) * columns), j * padded);
    setParams({ right: at.right, paddedColumns: padded, columns, depthBlock: dgemmDepthBlock(columns, d) });
    return padded;
  };
  /** Block b sums entries blockStarts[b] to blockStarts[b + 1] of the row list. */
  const setBlocks = (list: Int32Array, count: number, rowBlocks: boolean) => {
    const starts = new Int32Array(buffer, at.blockStarts, blocksMax + 1);
    let blocks = 0;
    for (let entry = 0, block = -1; entry < count; entry++) {
      const current = Math.floor((rowBlocks ? list[entry] : entry) / ROW_BLOCK);
      if (current !== block) starts[blocks++] = entry;
      block = current;
    }
    starts[blocks] = count;
    setParams({ blocks });
    return blocks;
  };
  const combined = (columns: number) => {
    runTask(TASK.combine, combineItems);
    return Float64Array.from(doubles(at.out, d * columns));
  };
  const squared = await squaredProduct(matrix, rows, d, threads);

  return {
    times: async (right, columns) => {
      const padded = setRight(right, columns);
      setParams({ rows: at.allRows, count: rows });
      runTask(TASK.margins, Math.ceil(rows / MARGIN_ROWS));
      const margins = doubles(at.out, rows * padded);
      const product = new Float64Array(rows * columns);
      for (let i = 0; i < rows; i++) product.set(margins.subarray(i * padded, i * padded + columns), i * columns);
      return product;
    },
    transposeTimes: async (right, columns) => {
      checkColumns(columns);
      doubles(at.scaled, rows * columns).set(right);
      setParams({ rows: at.allRows, count: rows, columns, scaled: at.scaled, scaledStride: columns * 8 });
      runTask(TASK.transposeTimes, setBlocks(allRows, rows, false));
      return combined(columns);
    },
    squaredTransposeTimes: (right, columns) => squared.times(right, columns),
    hessianTimes: async (right, intercepts, rowWeights, columns) => {
      const padded = setRight(right, columns);
      doubles(at.intercepts, columns).set(intercepts);
      doubles(at.rowWeights, rows * columns).set(rowWeights);
      const active = new Int32Array(buffer, at.activeRows, rows);
      let count = 0;
      for (let i = 0; i < rows; i++) {
        for (let c = i * columns; c < (i + 1) * columns; c++) {
          if (rowWeights[c] !== 0) {
            active[count++] = i;
            break;
          }
        }
      }
      const blocks = setBlocks(active, count, count > Math.floor(rows * GATHER_BELOW));
      setParams({ rows: at.activeRows, count, intercepts: at.intercepts, rowWeights: at.rowWeights, scaled: at.scaled, scaledStride: padded * 8 });
      runTask(TASK.hessian, blocks);
      const scaled = doubles(at.scaled, count * padded);
      const columnSums = new Float64Array(columns);
      for (let entry = 0; entry < count; entry++) {
        for (let c = 0; c < columns; c++) columnSums[c] += scaled[entry * padded + c];
      }
      return { product: combined(columns), columnSums };
    },
    release: async () => {
      Atomics.store(control, 0, -1);
      Atomics.notify(control, 0);
      await Promise.all(workers.map((worker) => worker.terminate()));
      await squared.release();
    },
  };
}
