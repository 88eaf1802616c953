// Cache maintenance: garbage collection, verification, and setting a damaged history aside.
// All hold the cache lock; none touches a folder that is not a cache (see openCache).

import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { acquireCacheLock, type LockHolder } from '../cache/lock.js';
import { claimCacheFolder, hashFile } from '../cache/store.js';
import type { Cache } from './cache-handle.js';
import { clearConfigMemo } from './config-memo.js';

export interface LockOptions {
  readonly wait: boolean;
  readonly onWait?: (holder: LockHolder | undefined) => void;
}

export interface GcSummary {
  readonly keptResults: number;
  readonly removedResults: number;
  /** Object files deleted (with --dry-run: that would be), counted as they go. */
  readonly removedFiles: number;
  readonly freedBytes: number;
}

/** Forgets results that none of the latest `keepRuns` runs used, then deletes the files no remaining result references. */
export async function collectGarbage(cache: Cache, options: LockOptions & { keepRuns: number; dryRun: boolean }): Promise<GcSummary> {
  if (!cache.exists) return { keptResults: 0, removedResults: 0, removedFiles: 0, freedBytes: 0 };
  const lock = await acquireCacheLock(cache.dir, { ...options, command: 'gc' });
  try {
    const keep = cache.history.keysOfRecentRuns(options.keepRuns);
    const outputs = cache.history.allResultOutputs();
    const removedKeys = new Set(outputs.filter((output) => !keep.has(output.key)).map((output) => output.key));
    const referenced = new Set(outputs.filter((output) => keep.has(output.key)).map((output) => cache.store.pathOf(output)));
    const unreferenced = cache.store.list().filter((object) => !referenced.has(cache.store.pathOf(object)));
    let removedFiles = 0;
    let freedBytes = 0;
    if (options.dryRun) {
      removedFiles = unreferenced.length;
      freedBytes = unreferenced.reduce((total, object) => total + object.size, 0);
    } else {
      cache.history.transaction(() => {
        for (const key of removedKeys) cache.history.deleteResult(key);
      });
      for (const object of unreferenced) {
        const freed = cache.store.remove(object);
        if (freed === undefined) continue;
        removedFiles += 1;
        freedBytes += freed;
      }
      cache.store.clearTemporaryFiles();
      clearConfigMemo(cache.dir);
    }
    return {
      keptResults: new Set(outputs.map((output) => output.key)).size - removedKeys.size,
      removedResults: removedKeys.size,
      removedFiles,
      freedBytes,
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
  /** Object files re-hashed, plus recorded ones found missing. */
  readonly checked: number;
  readonly corrupt: readonly CorruptArtifact[];
  /** Intact objects that no recorded result names (`gc` removes them). */
  readonly unreferenced: number;
  /** Paths under objects/ that are not objects; left alone. */
  readonly strays: readonly string[];
}

/**
 * Re-hashes every object on disk against the sha256 it is named by, and checks that every
 * recorded one exists. A damaged or missing one is deleted and the results naming it forgotten.
 */
export async function verifyCache(cache: Cache, options: LockOptions & { onProgress?: (done: number, total: number) => void }): Promise<VerifySummary> {
  if (!cache.exists) return { checked: 0, corrupt: [], unreferenced: 0, strays: [] };
  const lock = await acquireCacheLock(cache.dir, { ...options, command: 'verify' });
  try {
    cache.history.checkIntegrity();
    const outputs = cache.history.allResultOutputs();
    const keysByPath = new Map<string, Set<string>>();
    for (const output of outputs) {
      const path = cache.store.pathOf(output);
      keysByPath.set(path, (keysByPath.get(path) ?? new Set()).add(output.key));
    }
    const objects = new Map([...outputs, ...cache.store.list()].map((object) => [cache.store.pathOf(object), object]));
    const corrupt: CorruptArtifact[] = [];
    let unreferenced = 0;
    let done = 0;
    for (const [path, object] of objects) {
      const actual = await hashFile(path).catch(() => undefined);
      const keys = keysByPath.get(path) ?? new Set<string>();
      if (actual !== object.hash) {
        cache.history.transaction(() => {
          for (const key of keys) cache.history.deleteResult(key);
        });
        cache.store.remove(object);
        corrupt.push({ path, expectedSha256: object.hash, actualSha256: actual, forgottenResults: keys.size });
      } else if (keys.size === 0) {
        unreferenced += 1;
      }
      options.onProgress?.(++done, objects.size);
    }
    return { checked: objects.size, corrupt, unreferenced, strays: cache.store.strays() };
  } finally {
    lock.release();
  }
}

const HISTORY_FILES = ['history.db', 'history.db-wal', 'history.db-shm', 'history.db-journal'];

/**
 * Renames history.db (and its WAL files) to history.db.damaged-<time>, so that the next command
 * starts a fresh history; the artifacts stay. Returns the new name, or undefined when there was
 * no history. Works on a history too damaged to open.
 */
export async function setHistoryAside(cacheDir: string, options: LockOptions): Promise<string | undefined> {
  if (!existsSync(join(cacheDir, 'history.db'))) return undefined;
  // Marks a cache made before the mark existed: without its history.db it would no longer be recognized.
  claimCacheFolder(cacheDir, { create: true });
  const lock = await acquireCacheLock(cacheDir, { ...options, command: 'verify --reset-history' });
  try {
    const aside = join(cacheDir, `history.db.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    for (const file of HISTORY_FILES) {
      // SQLite finds a database's WAL by appending -wal to its name, so the pair stays readable.
      if (existsSync(join(cacheDir, file))) renameSync(join(cacheDir, file), aside + file.slice('history.db'.length));
    }
    return aside;
  } finally {
    lock.release();
  }
}
