// A full disk while an artifact is written: the write fails with the cache folder, the cause and
// the fix, and leaves neither a partial file nor the object. The disk is made full for this file's
// writes by wrapping node:fs/promises' `open` (a real file whose writes fail with ENOSPC, as
// /dev/full's do); the rest of the store runs as is.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const disk = vi.hoisted(() => ({ full: false }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args);
      if (!disk.full) return handle;
      return new Proxy(handle, {
        get: (target, property) =>
          property === 'write'
            ? async () => {
                throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
              }
            : Reflect.get(target, property, target),
      });
    },
  };
});

const { ArtifactStore, CacheError } = await import('../cache/store.js');

describe('an artifact written to a full disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'passeurs-full-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails with the cache folder and a fix, and leaves no partial file and no object', async () => {
    const store = new ArtifactStore(dir);
    const parts = [Uint8Array.of(1, 2, 3), Uint8Array.of(4)];
    const object = store.identify(parts, 'bin');
    disk.full = true;
    const failure = store.write(object, parts);
    await expect(failure).rejects.toBeInstanceOf(CacheError);
    await expect(failure).rejects.toThrow(`${dir}: no space left on its disk for a 4-byte artifact; fix: free disk space`);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(store.hasIntact(object)).toBe(false);
    disk.full = false;
    await store.write(object, parts);
    expect(store.hasIntact(object)).toBe(true);
  });
});
