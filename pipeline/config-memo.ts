// The YAML parse of each config text (with its --set values) a cache has seen, kept in the cache's
// configs/ folder: parsing a config with a cold yaml library was a fifth of a warm no-op run.
// An entry is named by configDataKey (the text, the overrides and the parser's version), written
// to a temporary file then renamed, and carries the hash of its data: an entry that fails to
// read or to match its hash is ignored and written again. Only a marked cache gets a memo, so
// reading a config never creates a cache.

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMarked } from '../cache/store.js';
import type { ConfigData, ConfigMemo } from './config.js';

const FOLDER = 'configs';

interface Entry {
  readonly dataHash: string;
  readonly data: ConfigData;
}

const hashOf = (json: string) => createHash('sha256').update(json).digest('hex');

/** The memo in the cache folder `cacheDir`, or undefined when that is not (yet) a cache. */
export function configMemoIn(cacheDir: string): ConfigMemo | undefined {
  if (!isMarked(cacheDir)) return undefined;
  const folder = join(cacheDir, FOLDER);
  const fileOf = (key: string) => join(folder, `${key}.json`);
  return {
    get(key) {
      try {
        const entry = JSON.parse(readFileSync(fileOf(key), 'utf8')) as Entry;
        return hashOf(JSON.stringify(entry.data)) === entry.dataHash ? entry.data : undefined;
      } catch {
        return undefined;
      }
    },
    set(key, data) {
      const json = JSON.stringify(data);
      const temporary = join(folder, `.${key}.${randomBytes(6).toString('hex')}.partial`);
      try {
        mkdirSync(folder, { recursive: true });
        writeFileSync(temporary, `{"dataHash":"${hashOf(json)}","data":${json}}\n`);
        renameSync(temporary, fileOf(key));
      } catch {
        // A cache we cannot write to (read-only, full) only loses the shortcut.
        rmSync(temporary, { force: true });
      }
    },
  };
}

/** Forgets every parse the memo in `cacheDir` holds (they are made again on the next read). */
export function clearConfigMemo(cacheDir: string): void {
  rmSync(join(cacheDir, FOLDER), { recursive: true, force: true });
}
