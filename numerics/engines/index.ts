// Engines by name, as stages and configs choose them. Each engine's module (onnxruntime,
// tfjs) is imported only when that engine is created: both are slow to load, and commands that
// compute nothing (status, dag, a warm no-op run) must start fast.
//
// onnx with more than one thread is a pool of single-threaded sessions on worker threads
// (worker-pool.ts): faster than one session's intra-op threads, with the same results.

import type { BackboneDescription } from '../backbones/description.js';
import type { EngineOptions, FeatureEngine } from './engine.js';

const ENGINES = {
  onnx: async (backbone: BackboneDescription, options: EngineOptions): Promise<FeatureEngine> =>
    options.threads > 1 ? (await import('./worker-pool.js')).createWorkerPool('onnx', backbone, options) : new (await import('./onnx-engine.js')).OnnxEngine(backbone, options),
  tfjs: async (backbone: BackboneDescription, options: EngineOptions): Promise<FeatureEngine> =>
    (await import('./tfjs-engine.js')).createTfjsEngine(backbone, options),
} as const;

export type EngineKind = keyof typeof ENGINES;
export const ENGINE_KINDS = Object.keys(ENGINES) as EngineKind[];

/** kind: one of ENGINE_KINDS (a config value, checked here). */
export function createEngine(kind: string, backbone: BackboneDescription, options: EngineOptions): Promise<FeatureEngine> {
  if (!Object.hasOwn(ENGINES, kind)) throw new Error(`unknown engine '${kind}'; engines: ${ENGINE_KINDS.join(', ')}`);
  return ENGINES[kind as EngineKind](backbone, options);
}
