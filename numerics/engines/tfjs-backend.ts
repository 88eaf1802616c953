// Chooses and starts the tfjs backend: the native one (@tensorflow/tfjs-node, an optional
// dependency that installs only where libtensorflow can be downloaded) when it loads, else the
// WebAssembly one (SIMD, single-threaded: Node gives wasm no threads).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from './tfjs-wasm-kernels.js';

export type TfjsBackend = 'tensorflow' | 'wasm';

let started: Promise<TfjsBackend> | undefined;

async function startNative(): Promise<boolean> {
  // A variable specifier: the package is optional and has no types here.
  const nativePackage = '@tensorflow/tfjs-node';
  try {
    await import(nativePackage);
    return await tf.setBackend('tensorflow');
  } catch {
    return false;
  }
}

async function startWasm(): Promise<TfjsBackend> {
  const require = createRequire(import.meta.url);
  const wasmDirectory = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  setWasmPaths(wasmDirectory + '/');
  if (!(await tf.setBackend('wasm'))) throw new Error(`tfjs: the wasm backend failed to start (wasm files in ${wasmDirectory})`);
  registerWasmGradientKernels();
  return 'wasm';
}

/**
 * Starts tfjs once per process (the first call chooses) and returns the backend in use.
 * `preferred` 'wasm' skips the native backend (to measure or test the wasm path where both are
 * installed).
 */
export function startTfjs(preferred: TfjsBackend = 'tensorflow'): Promise<TfjsBackend> {
  started ??= (async () => {
    if (preferred === 'tensorflow' && (await startNative())) return 'tensorflow';
    return startWasm();
  })();
  return started;
}
