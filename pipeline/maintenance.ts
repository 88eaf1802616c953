// Cache maintenance: garbage collection and verification. Both hold the cache lock.

import { acquireCacheLock, type LockHolder } from '../cache/lock.js';
import { hashFile } from '../cache/store.js';
import type { Cache } from './cache-handle.js';

export interface LockOptions {
  readonly wait: boolean;
  readonly onWait?: (holder: LockHolder | undefined) => void;
}

export interface GcSummary {
  readonly keptResults: number;
  readonly removedResults: number;
  readonly removedFiles: number;
  readonly freedBytes: number;
}

/** Forgets results that none of the latest `keepRuns` runs used, then deletes the files no remaining result references. */
export async function collectGarbage(cache: Cache, options: LockOptions & { keepRuns: number; dryRun: boolean }): Promise<GcSummary> {
  const lock = await acquireCacheLock(cache.dir, { ...options, command: 'gc' });
  try {
    const keep = cache.history.keysOfRecentRuns(options.keepRuns);
    const outputs = cache.history.allResultOutputs();
    const removedKeys = new Set(outputs.filter((output) => !keep.has(output.key)).map((output) => output.key));
    const referenced = new Set(outputs.filter((output) => keep.has(output.key)).map((output) => cache.store.pathOf(output)));
    const unreferenced = cache.store.list().filter((object) => !referenced.has(cache.store.pathOf(object)));
    if (!options.dryRun) {
      cache.history.transaction(() => {
        for (const key of removedKeys) cache.history.deleteResult(key);
      });
      for (const object of unreferenced) cache.store.remove(object);
      cache.store.clearTemporaryFiles();
    }
    return {
      keptResults: new Set(outputs.map((output) => output.key)).size - removedKeys.size,
      removedResults: removedKeys.size,
      removedFiles: unreferenced.length,
      freedBytes: unreferenced.reduce((total, object) => total + object.size, 0),
    };
  } finally {
    lock.release();
  }
}

export interface CorruptArtifact {
  readonly path: string;
  readonly expectedSha256: string;
  readonly actualSha256: string | undefined;
  /** Results that referenced it and were forgotten, so the next run recomputes them. */
  readonly forgottenResults: number;
}

export interface VerifySummary {
  readonly checked: number;
  readonly corrupt: readonly CorruptArtifact[];
}

/** Re-hashes every recorded artifact; a damaged one is deleted and its results forgotten. */
export async function verifyCache(cache: Cache, options: LockOptions & { onProgress?: (done: number, total: number) => void }): Promise<VerifySummary> {
  const lock = await acquireCacheLock(cache.dir, { ...options, command: 'verify' });
  try {
    const outputs = cache.history.allResultOutputs();
    const objects = new Map(outputs.map((output) => [cache.store.pathOf(output), output]));
    const corrupt: CorruptArtifact[] = [];
    let done = 0;
    for (const [path, object] of objects) {
      let actual: string | undefined;
      try {
        actual = await hashFile(path);
      } catch {
        actual = undefined;
      }
      if (actual !== object.hash) {
        const keys = new Set(outputs.filter((output) => cache.store.pathOf(output) === path).map((output) => output.key));
        cache.history.transaction(() => {
          for (const key of keys) cache.history.deleteResult(key);
        });
        cache.store.remove(object);
        corrupt.push({ path, expectedSha256: object.hash, actualSha256: actual, forgottenResults: keys.size });
      }
      options.onProgress?.(++done, objects.size);
    }
    return { checked: objects.size, corrupt };
  } finally {
    lock.release();
  }
}
