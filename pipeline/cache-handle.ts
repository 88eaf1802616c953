// Where the cache lives, and the two things in it the engine uses: the artifact store and the history.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ArtifactStore, claimCacheFolder } from '../cache/store.js';
import { History } from './history.js';

export const DEFAULT_CACHE_DIR = '.passeurs';

export interface Cache {
  readonly dir: string;
  /** False when the folder is missing or empty (a cache opened to read, which creates nothing). */
  readonly exists: boolean;
  readonly store: ArtifactStore;
  readonly history: History;
  close(): void;
}

/** --cache-dir, else $PASSEURS_CACHE, else .passeurs in the current directory. */
export function resolveCacheDir(explicit?: string): string {
  return resolve(explicit || process.env.PASSEURS_CACHE || DEFAULT_CACHE_DIR);
}

/**
 * Opens the cache in `dir`. `write` creates it when missing; `read` creates nothing (a missing
 * cache reads as empty). Either refuses, with CacheError, a folder that is not a cache.
 */
export function openCache(dir: string, mode: 'read' | 'write' = 'write'): Cache {
  const exists = claimCacheFolder(dir, { create: mode === 'write' });
  const historyFile = join(dir, 'history.db');
  const history = new History(mode === 'write' || existsSync(historyFile) ? historyFile : undefined);
  return { dir, exists, store: new ArtifactStore(dir), history, close: () => history.close() };
}
