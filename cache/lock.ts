// The cache lock: one writer at a time per cache directory.
//
// It is an exclusive SQLite transaction on cache/lock.db, i.e. an fcntl lock held by the
// kernel: it is released when the holder exits, even by SIGKILL, so there is no stale lock
// file to detect or steal. lock-holder.json only says who holds it, for the waiting message.

import Database from 'better-sqlite3';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheError } from './store.js';

export interface LockHolder {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
}

export class CacheBusyError extends Error {
  constructor(
    readonly cacheDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(`the cache ${cacheDir} is in use by ${describeHolder(holder)}; wait for it to finish, or rerun without --no-wait to wait for it`);
  }
}

export function describeHolder(holder: LockHolder | undefined): string {
  return holder ? `another pipeline (pid ${holder.pid}, \`${holder.command}\`, since ${holder.since})` : 'another pipeline';
}

export interface CacheLock {
  release(): void;
}

const POLL_MS = 200;

// lock.db holds no data, but it cannot be replaced automatically: two processes replacing it at
// once could each lock their own copy. The user removes it, knowing that no pipeline is running.
const DAMAGED_LOCK_FIX = 'make sure no pipeline uses this cache, then delete it (it holds no data; the next command recreates it)';

function tryLock(cacheDir: string): Database.Database | undefined {
  const path = join(cacheDir, 'lock.db');
  const info = statSync(path, { throwIfNoEntry: false });
  if (info && !info.isFile()) throw new CacheError(path, 'is not a file, so it cannot hold the cache lock', DAMAGED_LOCK_FIX);
  const database = new Database(path, { timeout: 0 });
  try {
    database.exec('BEGIN EXCLUSIVE');
    return database;
  } catch (error) {
    database.close();
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_BUSY') return undefined;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw new CacheError(path, `is damaged (${(error as Error).message})`, DAMAGED_LOCK_FIX);
    throw error;
  }
}

function readHolder(cacheDir: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(join(cacheDir, 'lock-holder.json'), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of an existing cache folder (see claimCacheFolder). When it is held: with
 * `wait`, calls `onWait` once and polls until it is free; without, throws CacheBusyError.
 */
export async function acquireCacheLock(
  cacheDir: string,
  options: { wait: boolean; command: string; onWait?: (holder: LockHolder | undefined) => void },
): Promise<CacheLock> {
  let announced = false;
  for (;;) {
    const database = tryLock(cacheDir);
    if (database) {
      const holder: LockHolder = { pid: process.pid, command: options.command, since: new Date().toISOString() };
      writeFileSync(join(cacheDir, 'lock-holder.json'), JSON.stringify(holder));
      return {
        release() {
          database.exec('ROLLBACK');
          database.close();
        },
      };
    }
    if (!options.wait) throw new CacheBusyError(cacheDir, readHolder(cacheDir));
    if (!announced) {
      options.onWait?.(readHolder(cacheDir));
      announced = true;
    }
    await sleep(POLL_MS);
  }
}
