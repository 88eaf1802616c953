// Runs the one-vs-rest dual coordinate descent problems on worker threads that share one copy of
// the training rows. The workers run `solveDualCd` from its source text, so the same code serves
// the compiled build and the TypeScript tests.

import { Worker } from 'node:worker_threads';
import type { FeatureSet } from '../../data/tables.js';
import { solveDualCd, type DualCdResult, type DualCdTask, type SharedRows } from './dual-cd.js';

/** Below this fraction of nonzero values, rows are compressed (ReLU features are often sparse). */
const COMPRESS_BELOW_DENSITY = 0.5;

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
const solveDualCd = ${solveDualCd.toString()};
parentPort.on('message', ({ index, task }) => {
  const result = solveDualCd(task, (iteration) => parentPort.postMessage({ index, iteration }));
  parentPort.postMessage({ index, result }, [result.weights.buffer]);
});
`;

interface WorkerMessage {
  readonly index: number;
  readonly iteration?: number;
  readonly result?: DualCdResult;
}

/**
 * Solves every task, at most `threads` at a time, and returns the results in task order.
 * `onIteration(index, iteration)` reports each finished pass of task `index`.
 */
export function solveDualCdTasks(
  tasks: readonly DualCdTask[],
  threads: number,
  onIteration: (index: number, iteration: number) => void,
  signal?: AbortSignal,
): Promise<DualCdResult[]> {
  const results: DualCdResult[] = new Array(tasks.length);
  const workers: Worker[] = [];
  let next = 0;
  let finished = 0;
  return new Promise<DualCdResult[]>((resolve, reject) => {
    const stopAll = () => {
      for (const worker of workers) void worker.terminate();
    };
    const fail = (error: unknown) => {
      stopAll();
      reject(error);
    };
    const onAbort = () => fail(new Error('SVM fit cancelled'));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const feed = (worker: Worker) => {
      if (next < tasks.length) {
        worker.postMessage({ index: next, task: tasks[next] });
        next++;
      }
    };
    const workerCount = Math.max(1, Math.min(threads, tasks.length));
    for (let k = 0; k < workerCount; k++) {
      const worker = new Worker(workerSource, { eval: true });
      workers.push(worker);
      worker.on('error', fail);
      worker.on('message', (message: WorkerMessage) => {
        if (message.result === undefined) {
          onIteration(message.index, message.iteration!);
          return;
        }
        results[message.index] = message.result;
        finished++;
        if (finished === tasks.length) {
          signal?.removeEventListener('abort', onAbort);
          stopAll();
          resolve(results);
        } else {
          feed(worker);
        }
      });
      feed(worker);
    }
  });
}
