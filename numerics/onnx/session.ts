// The options of every onnxruntime session in the project: CPU, sequential, `threads` cores.
//
// Intra-op threads do not spin while waiting for work. Between two runs the JavaScript thread
// works (conjugate-gradient vectors, pixel steps), and a pipeline runs two stages at once on two
// cores: a spinning thread takes the core the other needs. Measured on full CIFAR-10 features
// (docs/speed.md): a primal-newton fit 64-77 s of CPU instead of 78-85 s, and a fit beside a
// gradient pass 36-41 s instead of 43-49 s; the arithmetic, and so every result bit, is the same.

import type { InferenceSession } from 'onnxruntime-node';

export function cpuSessionOptions(threads: number): InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}
