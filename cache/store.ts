// Content-addressed artifact store: every artifact is a file named by the sha256 of its bytes.
// Files are written under tmp/ and renamed into objects/ only once complete and synced, so a
// killed process leaves at worst a temporary file (removed by the next writer), never a torn
// object. (The engine's history notes objects before they are renamed in, to remove any that a
// killed run left unrecorded.)
//
// The cache folder carries a mark of its own (CACHEDIR.TAG, naming passeurs): the pipeline
// deletes files only in a folder it marked, so a mistaken --cache-dir never empties a user's tmp/.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { chmod, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** A cache folder or file that cannot be used as it is. The message is one line: the path, what is wrong, the fix. */
export class CacheError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${path}: ${problem}; fix: ${fix}`);
    this.name = 'CacheError';
  }
}

const CACHE_TAG = 'CACHEDIR.TAG';
// The Cache Directory Tagging Specification's signature: backup tools that follow it skip the folder.
const CACHE_TAG_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';
const CACHE_TAG_TEXT = `${CACHE_TAG_SIGNATURE}
# This file marks a passeurs pipeline cache (pipeline --cache-dir). The pipeline deletes files
# only inside folders that carry this mark. See the Cache Directory Tagging Specification.
`;
/** What a cache made before the mark existed holds, and nothing else. */
const UNMARKED_CACHE_ENTRIES = new Set(['history.db', 'history.db-wal', 'history.db-shm', 'history.db-journal', 'lock.db', 'lock.db-journal', 'lock-holder.json', 'objects', 'tmp']);

/** Whether `dir` carries the mark of a passeurs cache. */
export function isMarked(dir: string): boolean {
  try {
    const text = readFileSync(join(dir, CACHE_TAG), 'utf8');
    return text.startsWith(CACHE_TAG_SIGNATURE) && text.includes('passeurs pipeline cache');
  } catch {
    return false;
  }
}

/**
 * Checks that `dir` is a cache, or may become one: a marked cache, a cache made before the mark
 * (history.db and only cache files, adopted), an empty folder or a missing one. Anything else
 * (a file, a folder of other things) throws CacheError. With `create`, makes the folder and its
 * mark. Returns whether `dir` now holds a cache (false: missing or empty, nothing created).
 */
export function claimCacheFolder(dir: string, options: { create: boolean }): boolean {
  let entries: string[] | undefined;
  try {
    if (!statSync(dir).isDirectory()) throw new CacheError(dir, 'is a file, not a cache folder', 'name a folder with --cache-dir or $PASSEURS_CACHE (a new one is created)');
    entries = readdirSync(dir);
  } catch (error) {
    if (error instanceof CacheError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new CacheError(dir, `cannot be used as the cache folder (${code ?? String(error)})`, 'name a folder you can write with --cache-dir or $PASSEURS_CACHE');
  }
  if (entries !== undefined && isMarked(dir)) return true;
  const unmarkedCache = entries !== undefined && entries.includes('history.db') && entries.every((entry) => UNMARKED_CACHE_ENTRIES.has(entry));
  if (entries !== undefined && entries.length > 0 && !unmarkedCache) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', ...' : '');
    throw new CacheError(
      dir,
      `not a passeurs cache (no ${CACHE_TAG}) and not empty (${shown}); the pipeline deletes files in its cache, so it uses only a folder it made`,
      'name a new or empty folder with --cache-dir or $PASSEURS_CACHE',
    );
  }
  if (!options.create) return unmarkedCache;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, CACHE_TAG), CACHE_TAG_TEXT);
  return true;
}

export interface StoredObject {
  readonly hash: string;
  readonly extension: string;
  readonly size: number;
}

const HASH_CHUNK_BYTES = 8 * 1024 * 1024;
/** Reads of an object: large enough to keep the disk busy, small enough to let other stages run between them. */
const READ_CHUNK_BYTES = 32 * 1024 * 1024;
/** `<sha256>.<extension>`, as write() names objects. */
const OBJECT_FILE = /^([0-9a-f]{64})\.([a-z0-9]{1,16})$/;

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Writes the parts one after the other at the file's position. A write may take fewer bytes than
 * asked (a `writev` of a 614 MB feature table took 404 MB), so each part is written until done.
 */
export async function writeParts(handle: Pick<FileHandle, 'write'>, parts: readonly Uint8Array[]): Promise<void> {
  for (const part of parts) {
    for (let offset = 0; offset < part.byteLength; ) {
      const { bytesWritten } = await handle.write(part, offset, part.byteLength - offset);
      if (bytesWritten <= 0) throw new Error(`a write took no bytes (${part.byteLength - offset} left)`);
      offset += bytesWritten;
    }
  }
}

/** Streams a file through sha256 (constant memory, for multi-gigabyte artifacts). */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: HASH_CHUNK_BYTES })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class ArtifactStore {
  readonly objectsDir: string;
  readonly tmpDir: string;

  constructor(readonly cacheDir: string) {
    this.objectsDir = join(cacheDir, 'objects');
    this.tmpDir = join(cacheDir, 'tmp');
  }

  pathOf(object: { hash: string; extension: string }): string {
    return join(this.objectsDir, object.hash.slice(0, 2), `${object.hash}.${object.extension}`);
  }

  /** True when the object file exists with the recorded size (cheap: no hashing). */
  hasIntact(object: StoredObject): boolean {
    try {
      return statSync(this.pathOf(object)).size === object.size;
    } catch {
      return false;
    }
  }

  /** The object whose bytes are the concatenation of `parts`. */
  identify(parts: readonly Uint8Array[], extension: string): StoredObject {
    const hash = createHash('sha256');
    let size = 0;
    for (const part of parts) {
      hash.update(part);
      size += part.byteLength;
    }
    return { hash: hash.digest('hex'), extension, size };
  }

  /** Writes `object` (from identify, with the same parts) atomically; an intact existing copy is kept. */
  async write(object: StoredObject, parts: readonly Uint8Array[]): Promise<void> {
    if (this.hasIntact(object)) return;
    const finalPath = this.pathOf(object);
    mkdirSync(join(this.objectsDir, object.hash.slice(0, 2)), { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
    const tmpPath = join(this.tmpDir, `${object.hash}.${randomBytes(6).toString('hex')}.partial`);
    const handle = await open(tmpPath, 'w');
    try {
      await writeParts(handle, parts);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(tmpPath, { force: true });
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new CacheError(this.cacheDir, `no space left on its disk for a ${object.size.toLocaleString('en-US')}-byte artifact`, 'free disk space (`pipeline gc` removes artifacts no recent run used), or use a --cache-dir on another disk');
      }
      throw error;
    }
    await handle.close();
    // Read-only, so that a user inspecting an artifact (from Python, say) cannot edit it in place by accident.
    await chmod(tmpPath, 0o444);
    await rename(tmpPath, finalPath);
  }

  /**
   * The bytes of an object, checked against its sha256: damaged bytes throw CacheError, never
   * reach a reader. One freshly allocated buffer (offset 0), so Arrow can view its columns in
   * place. The file is read in chunks off the main thread, each hashed while the next one is
   * read: a large input no longer holds up the other stages of a run for seconds (docs/speed.md).
   */
  async read(object: StoredObject): Promise<Uint8Array> {
    const path = this.pathOf(object);
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      const bytes = new Uint8Array(new ArrayBuffer(size));
      const hash = createHash('sha256');
      const readFrom = (offset: number) => handle.read(bytes, offset, Math.min(size - offset, READ_CHUNK_BYTES), offset);
      let next = size > 0 ? readFrom(0) : undefined;
      for (let offset = 0; offset < size; ) {
        const { bytesRead } = await next!;
        if (bytesRead === 0) throw new CacheError(path, 'shrank while being read', 'run `pipeline verify` once no other process writes the cache');
        const chunk = bytes.subarray(offset, offset + bytesRead);
        offset += bytesRead;
        next = offset < size ? readFrom(offset) : undefined;
        hash.update(chunk);
      }
      if (hash.digest('hex') !== object.hash) {
        throw new CacheError(path, 'damaged: its bytes no longer match the sha256 it is named by', 'run `pipeline verify` (it deletes damaged artifacts; the next run recomputes them)');
      }
      return bytes;
    } finally {
      await handle.close();
    }
  }

  /** Deletes an object file; returns the bytes it held, or undefined when there was none. */
  remove(object: { hash: string; extension: string }): number | undefined {
    const path = this.pathOf(object);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return undefined;
    }
    rmSync(path, { force: true });
    return size;
  }

  /** Every object file present, as hash + extension + size; anything else in objects/ is a stray (see strays). */
  list(): StoredObject[] {
    return this.scan().objects;
  }

  /** Paths under objects/ that are not objects (a file put there by hand, a folder in a shard): never deleted by the pipeline. */
  strays(): string[] {
    return this.scan().strays;
  }

  private scan(): { objects: StoredObject[]; strays: string[] } {
    const objects: StoredObject[] = [];
    const strays: string[] = [];
    let shards: string[];
    try {
      shards = readdirSync(this.objectsDir);
    } catch {
      return { objects, strays };
    }
    for (const shard of shards.sort()) {
      const shardPath = join(this.objectsDir, shard);
      if (!/^[0-9a-f]{2}$/.test(shard) || !statSync(shardPath).isDirectory()) {
        strays.push(shardPath);
        continue;
      }
      for (const file of readdirSync(shardPath).sort()) {
        const path = join(shardPath, file);
        const match = OBJECT_FILE.exec(file);
        const info = statSync(path);
        if (!match || !match[1]!.startsWith(shard) || !info.isFile()) strays.push(path);
        else objects.push({ hash: match[1]!, extension: match[2]!, size: info.size });
      }
    }
    return { objects, strays };
  }

  /** Removes temporary files left by killed writers. Call only while holding the cache lock. */
  clearTemporaryFiles(): void {
    rmSync(this.tmpDir, { recursive: true, force: true });
  }
}
