// One worker thread of worker-pool.ts: a single-threaded engine that computes the batches it is sent.

import { parentPort, workerData } from 'node:worker_threads';
import { createEngine } from './index.js';
import type { BatchCall, BatchReply, WorkerSetup } from './worker-pool.js';
import type { LinearHead } from './engine.js';

const port = parentPort!;
const setup = workerData as WorkerSetup;

function reply(message: BatchReply): void {
  const buffers = 'features' in message ? [message.features.buffer] : 'gradient' in message ? [message.gradient.buffer, message.losses.buffer] : [];
  port.postMessage(message, buffers as ArrayBuffer[]);
}

/** The head on this thread's own memory: the pool shares each head's weights (SharedArrayBuffer), which onnxruntime does not take. */
function ownCopy(head: LinearHead): LinearHead {
  return { ...head, weights: new Float32Array(head.weights), bias: new Float32Array(head.bias) };
}

async function compute(engine: Awaited<ReturnType<typeof createEngine>>, message: BatchCall): Promise<Omit<BatchReply, 'id'>> {
  switch (message.call) {
    case 'features':
      return { features: await engine.features(message.pixels, message.count) };
    case 'lossGradient':
      return engine.lossGradient(message.pixels, message.labels, message.count, ownCopy(message.head), message.subtracted && ownCopy(message.subtracted), message.subtractedWeight);
    case 'distanceGradient':
      return engine.distanceGradient(message.pixels, message.targets, message.count);
  }
}

try {
  const engine = await createEngine(setup.kind, setup.backbone, setup.options);
  port.on('message', async (message: (BatchCall & { id: number }) | { dispose: true }) => {
    if ('dispose' in message) {
      await engine.dispose();
      port.close();
      return;
    }
    try {
      reply({ id: message.id, ...(await compute(engine, message)) } as BatchReply);
    } catch (error) {
      reply({ id: message.id, error: (error as Error).message });
    }
  });
  port.postMessage({ dimension: engine.dimension });
} catch (error) {
  port.postMessage({ error: (error as Error).message });
}
