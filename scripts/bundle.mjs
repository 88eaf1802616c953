#!/usr/bin/env node
// Bundles the `pipeline` CLI into dist/pipeline/cli.js (replacing tsc's output of that one file),
// so that a command loads one file instead of some 300 modules: module loading was most of a warm
// no-op run (docs/speed-noop.md). Code reached only through `await import()` (the inference
// engines, the SVM's matrix products) goes to dist/pipeline/chunks/ and still loads on first use.
// Native and engine packages stay in node_modules: better-sqlite3 finds its .node file from there,
// and onnxruntime-node and tfjs load only when a stage creates an engine.
//
// Usage: node scripts/bundle.mjs (npm run build runs it after tsc).

import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = join(import.meta.dirname, '..');

// string-width (through cliui and wrap-ansi, for yargs' help text) makes an Intl.Segmenter when
// loaded: ICU's break rules, some 17 ms of every command, help shown or not. In the bundle it makes
// it when it first measures a string. A string-width that no longer reads so fails the build.
const EAGER_SEGMENTER = 'const segmenter = new Intl.Segmenter();';
const deferSegmenter = {
  name: 'defer-string-width-segmenter',
  setup(builder) {
    builder.onLoad({ filter: /[\\/]string-width[\\/]index\.js$/ }, ({ path }) => {
      const source = readFileSync(path, 'utf8');
      if (!source.includes(EAGER_SEGMENTER)) throw new Error(`${path}: no "${EAGER_SEGMENTER}" to defer; update deferSegmenter in scripts/bundle.mjs`);
      const lazy = 'let madeSegmenter;\nconst segmenter = { segment: (text) => (madeSegmenter ??= new Intl.Segmenter()).segment(text) };';
      return { contents: source.replace(EAGER_SEGMENTER, lazy), loader: 'js' };
    });
  },
};

/** Bundles `entry` (a TypeScript file of the project) into `outdir`, keeping the entry's file name. */
export async function bundle(entry, outdir) {
  rmSync(join(outdir, 'chunks'), { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: 'chunks/[name]-[hash]',
    external: ['better-sqlite3', 'onnxruntime-node', '@tensorflow/*'],
    // Bundled CommonJS packages (yaml) call require() for Node's built-in modules.
    banner: { js: "import { createRequire as bundleCreateRequire } from 'node:module'; const require = bundleCreateRequire(import.meta.url);" },
    plugins: [deferSegmenter],
    sourcemap: true,
    logLevel: 'warning',
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await bundle('pipeline/cli.ts', join(root, 'dist/pipeline'));
