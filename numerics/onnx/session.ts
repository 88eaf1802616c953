// The options of every onnxruntime session in the project: CPU, sequential, `threads` cores.
//
// Intra-op threads do not spin while waiting for work. onnxruntime-node runs a session on the
// main thread, which works in JavaScript between two runs (conjugate-gradient vectors, pixel
// steps); a spinning pool thread then burns the second core and takes it from the hashing and I/O
// threads, the collector or another session. Measured (docs/speed.md): a full primal-newton fit
// 64-77 s of CPU instead of 75-85 s, the paper's table cold 6 min 58 s instead of 7 min 58 s; the
// arithmetic, and so every result bit, is the same.

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
