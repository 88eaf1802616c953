// An engine that spreads its batches over worker threads, one single-threaded engine of the same
// kind on each. onnxruntime-node runs a session on the thread that calls it, so one process gets
// more than one session running at once only from worker threads; and at the main setting one
// session with two intra-op threads is slower than one with a single thread (docs/speed.md,
// *One session per core*). Each batch is the same batch, run by the same graph, as in a single
// engine: the results are the same bytes.

import { Worker } from 'node:worker_threads';
import type { BackboneDescription } from '../backbones/description.js';
import { checkPixelCount, type EngineOptions, type FeatureEngine, type LinearHead, type LossGradient } from './engine.js';
import { IMAGE_BYTES } from '../../data/tables.js';
import { builtFile } from '../built-file.js';

/** One batch's work, as the worker receives it (engine-worker.ts). */
export type BatchCall =
  | { readonly call: 'features'; readonly pixels: Uint8Array; readonly count: number }
  | {
      readonly call: 'lossGradient';
      readonly pixels: Uint8Array;
      readonly labels: Uint8Array;
      readonly count: number;
      readonly head: LinearHead;
      readonly subtracted?: LinearHead;
      readonly subtractedWeight?: number;
    }
  | { readonly call: 'distanceGradient'; readonly pixels: Uint8Array; readonly targets: Float32Array; readonly count: number };

export type BatchReply = { readonly id: number } & ({ readonly features: Float32Array } | { readonly gradient: Float32Array; readonly losses: Float32Array } | { readonly error: string });

/** What a worker is started with. */
export interface WorkerSetup {
  readonly kind: string;
  readonly backbone: BackboneDescription;
  readonly options: EngineOptions;
}

class EngineWorker {
  private readonly replies = new Map<number, { resolve: (reply: BatchReply) => void; reject: (error: Error) => void }>();
  private failure?: Error;

  constructor(readonly thread: Worker) {
    thread.on('message', (reply: BatchReply) => {
      this.replies.get(reply.id)?.resolve(reply);
      this.replies.delete(reply.id);
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const { reject } of this.replies.values()) reject(error);
      this.replies.clear();
    };
    thread.on('error', fail);
    thread.on('exit', (code) => fail(new Error(`engine worker exited (code ${code})`)));
  }

  run(id: number, call: BatchCall, transfer: ArrayBuffer[]): Promise<BatchReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.replies.set(id, { resolve, reject });
      this.thread.postMessage({ id, ...call }, transfer);
    });
  }
}

/** Starts `options.threads` workers, each with a single-threaded engine of `kind`. */
export async function createWorkerPool(kind: string, backbone: BackboneDescription, options: EngineOptions): Promise<FeatureEngine> {
  const script = builtFile('numerics/engines/engine-worker.js', import.meta.url);
  const setup: WorkerSetup = { kind, backbone, options: { ...options, threads: 1 } };
  const threads = Array.from({ length: options.threads }, () => new Worker(script, { workerData: setup }));
  const started = threads.map(
    (thread) =>
      new Promise<number>((resolve, reject) => {
        thread.once('message', (message: { dimension?: number; error?: string }) => (message.error ? reject(new Error(message.error)) : resolve(message.dimension!)));
        thread.once('error', reject);
      }),
  );
  try {
    const [dimension] = await Promise.all(started);
    return new WorkerPool(threads.map((thread) => new EngineWorker(thread)), dimension, options.batchSize);
  } catch (error) {
    await Promise.all(threads.map((thread) => thread.terminate()));
    throw error;
  }
}

/** A copy of `values` on shared memory: posting it to a worker then shares it instead of copying it. */
function sharedCopy(values: Float32Array): Float32Array {
  const copy = new Float32Array(new SharedArrayBuffer(values.byteLength));
  copy.set(values);
  return copy;
}

class WorkerPool implements FeatureEngine {
  private readonly idle: EngineWorker[];
  private readonly waiting: ((worker: EngineWorker) => void)[] = [];
  private nextId = 0;
  /** Each head's weights, copied once to shared memory: a stage posts the same heads with every batch. */
  private readonly sharedHeads = new WeakMap<LinearHead, LinearHead>();

  constructor(
    private readonly workers: EngineWorker[],
    readonly dimension: number,
    private readonly batchSize: number,
  ) {
    this.idle = [...workers];
  }

  private acquire(): Promise<EngineWorker> {
    const worker = this.idle.pop();
    return worker ? Promise.resolve(worker) : new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(worker: EngineWorker): void {
    const next = this.waiting.shift();
    if (next) next(worker);
    else this.idle.push(worker);
  }

  /** Runs `call(start, size)` for every batch of `count` images on the next free worker; `store` puts each reply in place. */
  private async eachBatch(count: number, call: (start: number, size: number) => BatchCall, store: (reply: BatchReply, start: number, size: number) => void): Promise<void> {
    const batches: Promise<void>[] = [];
    for (let start = 0; start < count; start += this.batchSize) {
      const size = Math.min(this.batchSize, count - start);
      batches.push(
        (async () => {
          const worker = await this.acquire();
          try {
            const message = call(start, size);
            const reply = await worker.run(this.nextId++, message, [message.pixels.buffer as ArrayBuffer]);
            if ('error' in reply) throw new Error(size < count ? `images ${start}..${start + size - 1}: ${reply.error}` : reply.error);
            store(reply, start, size);
          } finally {
            this.release(worker);
          }
        })(),
      );
    }
    await Promise.all(batches);
  }

  private shared(head: LinearHead): LinearHead {
    let copy = this.sharedHeads.get(head);
    if (!copy) {
      copy = { classes: head.classes, dimension: head.dimension, weights: sharedCopy(head.weights), bias: sharedCopy(head.bias) };
      this.sharedHeads.set(head, copy);
    }
    return copy;
  }

  /** A copy of the batch's pixels, transferred to the worker. */
  private static batchPixels(pixels: Uint8Array, start: number, size: number): Uint8Array {
    return pixels.slice(start * IMAGE_BYTES, (start + size) * IMAGE_BYTES);
  }

  async features(pixels: Uint8Array, count: number): Promise<Float32Array> {
    checkPixelCount(pixels, count);
    const features = new Float32Array(count * this.dimension);
    await this.eachBatch(
      count,
      (start, size) => ({ call: 'features', pixels: WorkerPool.batchPixels(pixels, start, size), count: size }),
      (reply, start) => features.set((reply as { features: Float32Array }).features, start * this.dimension),
    );
    return features;
  }

  private async gradients(count: number, call: (start: number, size: number) => BatchCall): Promise<LossGradient> {
    const gradient = new Float32Array(count * IMAGE_BYTES);
    const losses = new Float32Array(count);
    await this.eachBatch(count, call, (reply, start) => {
      const result = reply as LossGradient;
      gradient.set(result.gradient, start * IMAGE_BYTES);
      losses.set(result.losses, start);
    });
    return { gradient, losses };
  }

  lossGradient(pixels: Uint8Array, labels: Uint8Array, count: number, head: LinearHead, subtracted?: LinearHead, subtractedWeight?: number): Promise<LossGradient> {
    checkPixelCount(pixels, count);
    if (labels.length !== count) throw new Error(`${labels.length} labels for ${count} images`);
    const [sharedHead, sharedSubtracted] = [this.shared(head), subtracted && this.shared(subtracted)];
    return this.gradients(count, (start, size) => ({
      call: 'lossGradient',
      pixels: WorkerPool.batchPixels(pixels, start, size),
      labels: labels.slice(start, start + size),
      count: size,
      head: sharedHead,
      subtracted: sharedSubtracted,
      subtractedWeight,
    }));
  }

  distanceGradient(pixels: Uint8Array, targets: Float32Array, count: number): Promise<LossGradient> {
    checkPixelCount(pixels, count);
    if (targets.length !== count * this.dimension) throw new Error(`${targets.length} target values for ${count} images of ${this.dimension} features`);
    return this.gradients(count, (start, size) => ({
      call: 'distanceGradient',
      pixels: WorkerPool.batchPixels(pixels, start, size),
      targets: targets.slice(start * this.dimension, (start + size) * this.dimension),
      count: size,
    }));
  }

  /** Each worker releases its engine's sessions, then exits. */
  async dispose(): Promise<void> {
    await Promise.all(
      this.workers.map(
        ({ thread }) =>
          new Promise<void>((resolve) => {
            thread.once('exit', () => resolve());
            thread.postMessage({ dispose: true });
          }),
      ),
    );
  }
}
