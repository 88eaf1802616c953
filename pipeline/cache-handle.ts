// Where the cache lives, and the two things in it the engine uses: the artifact store and the history.

import { resolve } from 'node:path';
import { ArtifactStore } from '../cache/store.js';
import { History } from './history.js';

export const DEFAULT_CACHE_DIR = '.passeurs';

export interface Cache {
  readonly dir: string;
  readonly store: ArtifactStore;
  readonly history: History;
  close(): void;
}

/** --cache-dir, else $PASSEURS_CACHE, else .passeurs in the current directory. */
export function resolveCacheDir(explicit?: string): string {
  return resolve(explicit || process.env.PASSEURS_CACHE || DEFAULT_CACHE_DIR);
}

export function openCache(dir: string): Cache {
  const history = new History(dir);
  return { dir, store: new ArtifactStore(dir), history, close: () => history.close() };
}
