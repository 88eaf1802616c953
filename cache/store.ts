// Content-addressed artifact store: every artifact is a file named by the sha256 of its bytes.
// Files are written under tmp/ and renamed into objects/ only once complete and synced, so a
// killed process leaves at worst a temporary file (removed by the next writer), never a torn
// object. (The engine's history notes objects before they are renamed in, to remove any that a
// killed run left unrecorded.)

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, closeSync, fstatSync, mkdirSync, openSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import { chmod, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface StoredObject {
  readonly hash: string;
  readonly extension: string;
  readonly size: number;
}

const HASH_CHUNK_BYTES = 8 * 1024 * 1024;

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Streams a file through sha256 (constant memory, for multi-gigabyte artifacts). */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: HASH_CHUNK_BYTES })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Reads a whole file into one freshly allocated buffer (no pooling, offset 0), so Arrow can
 * view its columns in place. Reads in chunks: a single read is capped at 2 GiB.
 */
export function readWholeFile(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buffer = new Uint8Array(new ArrayBuffer(size));
    let offset = 0;
    while (offset < size) {
      const read = readSync(fd, buffer, offset, Math.min(size - offset, 1 << 30), offset);
      if (read === 0) throw new Error(`${path}: file shrank while being read`);
      offset += read;
    }
    return buffer;
  } finally {
    closeSync(fd);
  }
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

  /** The object some bytes would be stored as. */
  identify(bytes: Uint8Array, extension: string): StoredObject {
    return { hash: sha256(bytes), extension, size: bytes.byteLength };
  }

  /** Writes the bytes of `object` (from identify) atomically; an intact existing copy is kept. */
  async write(object: StoredObject, bytes: Uint8Array): Promise<void> {
    if (this.hasIntact(object)) return;
    const finalPath = this.pathOf(object);
    mkdirSync(join(this.objectsDir, object.hash.slice(0, 2)), { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
    const tmpPath = join(this.tmpDir, `${object.hash}.${randomBytes(6).toString('hex')}.partial`);
    const handle = await open(tmpPath, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(tmpPath, { force: true });
      throw error;
    }
    await handle.close();
    // Read-only, so that a user inspecting an artifact (from Python, say) cannot edit it in place by accident.
    await chmod(tmpPath, 0o444);
    await rename(tmpPath, finalPath);
  }

  read(object: StoredObject): Uint8Array {
    return readWholeFile(this.pathOf(object));
  }

  remove(object: { hash: string; extension: string }): void {
    rmSync(this.pathOf(object), { force: true });
  }

  /** Every object file present, as hash + extension + size. */
  list(): StoredObject[] {
    const objects: StoredObject[] = [];
    let shards: string[];
    try {
      shards = readdirSync(this.objectsDir);
    } catch {
      return objects;
    }
    for (const shard of shards) {
      for (const file of readdirSync(join(this.objectsDir, shard))) {
        const dot = file.indexOf('.');
        const hash = file.slice(0, dot);
        const extension = file.slice(dot + 1);
        objects.push({ hash, extension, size: statSync(join(this.objectsDir, shard, file)).size });
      }
    }
    return objects;
  }

  /** Removes temporary files left by killed writers. Call only while holding the cache lock. */
  clearTemporaryFiles(): void {
    rmSync(this.tmpDir, { recursive: true, force: true });
  }
}
