// Files that the build writes beside tsc's output (a worker's script, a WebAssembly module), found
// from the calling module's place: in the sources, in dist/ or in the bundle's chunks.

import { existsSync } from 'node:fs';

/** `dist/<path>` in the package that holds `from` (a module's import.meta.url). */
export function builtFile(path: string, from: string): URL {
  let folder = new URL('.', from);
  while (!existsSync(new URL('package.json', folder))) {
    const parent = new URL('..', folder);
    if (parent.href === folder.href) throw new Error(`${path}: no package.json above ${from}`);
    folder = parent;
  }
  const file = new URL(`dist/${path}`, folder);
  if (!existsSync(file)) throw new Error(`${file.pathname} is missing: run \`npm run build\``);
  return file;
}
