#!/usr/bin/env node
// Bundles the `pipeline` CLI into dist/pipeline/cli.js (replacing tsc's output of that one file),
// so that a command loads one file instead of some 200 modules: module loading was most of a warm
// no-op run (docs/speed-noop.md). Code reached only through `await import()` (the inference
// engines, the SVM's matrix products) goes to dist/pipeline/chunks/ and still loads on first use.
// Native and engine packages stay in node_modules: better-sqlite3 finds its .node file from there,
// onnxruntime-node and tfjs load only when a stage creates an engine, and pdfkit reads its font
// files from its own folder.
//
// Usage: node scripts/bundle.mjs (npm run build runs it after tsc).

import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = join(import.meta.dirname, '..');

// yargs, cliui and wrap-ansi measure strings with string-width only to lay out help text, yet
// string-width builds ICU data as it loads: an Intl.Segmenter and a \p{RGI_Emoji} regular
// expression, 40-80 ms of every command. In the bundle, each copy of string-width is evaluated
// on its first call: the importers get a stand-in whose require() esbuild evaluates lazily.
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(builder) {
    builder.onResolve({ filter: /^string-width$/ }, async ({ importer, resolveDir, kind, pluginData }) => {
      if (pluginData?.real) return undefined;
      const real = await builder.resolve('string-width', { importer, resolveDir, kind, pluginData: { real: true } });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-string-width' };
    });
    builder.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, ({ path }) => ({
      contents: `let stringWidth;\nexport default (...args) => (stringWidth ??= require(${JSON.stringify(path)}).default)(...args);\n`,
      resolveDir: dirname(path),
      loader: 'js',
    }));
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
    // pdfkit reads its font metrics from files beside its own modules (__dirname).
    external: ['better-sqlite3', 'onnxruntime-node', '@tensorflow/*', 'pdfkit'],
    // Bundled CommonJS packages (yaml) call require() for Node's built-in modules.
    banner: { js: "import { createRequire as bundleCreateRequire } from 'node:module'; const require = bundleCreateRequire(import.meta.url);" },
    plugins: [lazyStringWidth],
    sourcemap: true,
    logLevel: 'warning',
  });
  // Executable, so that its shebang (which turns on huge pages, pipeline/cli.ts) is what starts it.
  chmodSync(join(outdir, entry.replace(/^.*\//, '').replace(/\.ts$/, '.js')), 0o755);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await bundle('pipeline/cli.ts', join(root, 'dist/pipeline'));
