#!/usr/bin/env node
// Assembles the project's WebAssembly text files (numerics/**/*.wat) into dist/, beside tsc's
// output, where builtFile() finds them.
//
// Usage: node scripts/build-wasm.mjs (npm run build runs it after tsc).

import wabtInit from 'wabt';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const sources = ['numerics/svm/products.wat'];
const features = { simd: true, relaxed_simd: true, threads: true, bulk_memory: true };

const wabt = await wabtInit();
for (const source of sources) {
  const module = wabt.parseWat(source, readFileSync(join(root, source), 'utf8'), features);
  const target = join(root, 'dist', source.replace(/\.wat$/, '.wasm'));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, module.toBinary({}).buffer);
  module.destroy();
}
