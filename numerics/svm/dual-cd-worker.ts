// Runs the dual coordinate descent on a worker thread that shares the one copy of the training
// rows. The worker runs `solveDualCd` from its source text, so the same code serves the compiled
// build and the TypeScript tests.

import { Worker } from 'node:worker_threads';
import type { FeatureSet } from '../../data/tables.js';
import { solveDualCd, type DualCdResult, type DualCdTask, type SharedRows } from './dual-cd.js';
import { glibcRandom } from './glibc-random.js';

/**
 * Below this fraction of nonzero values, rows are compressed (ReLU features are often sparse).
 * The solver's sums are a chain of dependent additions, so its time follows the entries it adds:
 * on 67 %-nonzero features, compressed rows took 22 s where dense ones took 29 s (5,000 x 3,072).
 */
const COMPRESS_BELOW_DENSITY = 0.9;

function sharedArray<A extends Float32Array | Int32Array | Uint16Array | Uint8Array>(
  Ctor: { new (buffer: SharedArrayBuffer): A; BYTES_PER_ELEMENT: number },
  length: number,
): A {
  return new Ctor(new SharedArrayBuffer(Math.max(length, 1) * Ctor.BYTES_PER_ELEMENT));
}

/** Copies the feature matrix once into shared memory, compressed by row when it is sparse. */
export function shareRows(set: FeatureSet): SharedRows {
  const { count, dimension, features } = set;
  let nonzero = 0;
  for (let k = 0; k < features.length; k++) if (features[k] !== 0) nonzero++;
  if (nonzero >= COMPRESS_BELOW_DENSITY * features.length) {
    const dense = sharedArray(Float32Array, features.length);
    dense.set(features);
    return { count, dimension, dense, rowStart: null, columns: null, values: null };
  }
  const rowStart = sharedArray(Int32Array, count + 1);
  const columns = dimension <= 0x10000 ? sharedArray(Uint16Array, nonzero) : sharedArray(Int32Array, nonzero);
  const values = sharedArray(Float32Array, nonzero);
  let at = 0;
  for (let i = 0; i < count; i++) {
    rowStart[i] = at;
    for (let j = 0, k = i * dimension; j < dimension; j++, k++) {
      if (features[k] !== 0) {
        columns[at] = j;
        values[at] = features[k];
        at++;
      }
    }
  }
  rowStart[count] = at;
  return { count, dimension, dense: null, rowStart, columns, values };
}

const workerSource = `
const { parentPort } = require('node:worker_threads');
const glibcRandom = ${glibcRandom.toString()};
const solveDualCd = ${solveDualCd.toString()};
parentPort.on('message', (task) => {
  const results = solveDualCd(task, (problem, iteration) => parentPort.postMessage({ problem, iteration }));
  parentPort.postMessage({ results }, results.map((result) => result.weights.buffer));
});
`;

interface WorkerMessage {
  readonly problem?: number;
  readonly iteration?: number;
  readonly results?: DualCdResult[];
}

/**
 * Solves the task's binary problems on a worker thread (the main thread stays free for progress
 * and cancellation). `onIteration(problem, pass)` reports each finished pass.
 */
export function solveDualCdInWorker(
  task: DualCdTask,
  onIteration: (problem: number, iteration: number) => void,
  signal?: AbortSignal,
): Promise<DualCdResult[]> {
  return new Promise<DualCdResult[]>((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('SVM fit cancelled'));
    const worker = new Worker(workerSource, { eval: true });
    const onAbort = () => {
      void worker.terminate();
      reject(new Error('SVM fit cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      reject(error);
    });
    worker.on('message', (message: WorkerMessage) => {
      if (message.results === undefined) {
        onIteration(message.problem!, message.iteration!);
        return;
      }
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      resolve(message.results);
    });
    worker.postMessage(task);
  });
}
