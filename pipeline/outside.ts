// Outside inputs: files and folders a config names (a model folder, a data mirror, a model file),
// or a file at a URL pinned by its sha256. The engine hashes their content, the hash enters the
// consuming stage's key, and the stage receives the bytes that were hashed, never a path.
//
// A file's hash is the sha256 of its bytes. A folder's hash is the sha256 of its `sha256sum`
// listing: one line `<sha256>  <relative path>\n` per file, paths sorted bytewise (as
// `LC_ALL=C sort`), so `(cd DIR && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum) | sha256sum`
// gives the same hash. A stat cache (path, size, mtime, ctime, inode -> sha256), as Git and DVC
// keep, spares re-reading unchanged files; any change of those fields means re-hashing.

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, readdirSync, statSync, type Stats } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import type { OutsideFiles } from './stage.js';

/** What a config names: a path (absolute once the config is parsed), or a URL with the sha256 of its bytes. */
export type OutsideSource =
  | { readonly path: string; readonly written: string }
  | { readonly url: string; readonly sha256: string; readonly written: string };

/** Largest outside input, all files together, and most files in a folder. */
export const OUTSIDE_LIMITS = { bytes: 4 * 1024 ** 3, files: 100_000 } as const;

export class OutsideInputError extends Error {
  override readonly name = 'OutsideInputError';
}

export interface StatRecord {
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly inode: string;
  readonly hash: string;
}

/** Where file hashes are remembered between runs (the history database). */
export interface StatCache {
  lookup(path: string): StatRecord | undefined;
  remember(path: string, record: StatRecord): void;
}

/** Forgets nothing and remembers nothing: every file is hashed. */
export const noStatCache: StatCache = { lookup: () => undefined, remember: () => {} };

// A file modified within this window of being hashed could change again within the same mtime
// tick without its stat changing (Git's "racy" case): its hash is not remembered.
const RACY_WINDOW_MS = 2_000;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function statOf(path: string, written: string): Stats & { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint } {
  try {
    return statSync(path, { bigint: true }) as never;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new OutsideInputError(`${written}: ${code === 'ENOENT' ? 'no such file or folder' : `cannot read (${code ?? (error as Error).message})`}`);
  }
}

interface FileEntry {
  readonly relativePath: string;
  readonly absolutePath: string;
  readonly stats: ReturnType<typeof statOf>;
}

/** The regular files of a file or folder source, sorted bytewise by relative path; refuses devices, FIFOs and sockets. */
function listFiles(path: string, written: string, signal?: AbortSignal): { kind: 'file' | 'folder'; files: FileEntry[] } {
  const refuse = (what: string, at: string) =>
    new OutsideInputError(`${written}: ${at === path ? '' : `${relative(path, at)} is `}${what}; an outside input is made of regular files (give a file or a folder of files)`);
  const top = statOf(path, written);
  if (top.isFile()) return { kind: 'file', files: [{ relativePath: basename(path), absolutePath: path, stats: top }] };
  if (!top.isDirectory()) throw refuse(describeSpecial(top), path);
  const files: FileEntry[] = [];
  let bytes = 0n;
  const walk = (folder: string) => {
    signal?.throwIfAborted();
    for (const name of readdirSync(folder)) {
      const absolutePath = join(folder, name);
      const stats = statOf(absolutePath, written);
      if (stats.isDirectory()) walk(absolutePath);
      else if (stats.isFile()) {
        files.push({ relativePath: relative(path, absolutePath).split(sep).join('/'), absolutePath, stats });
        bytes += stats.size;
        if (files.length > OUTSIDE_LIMITS.files) throw new OutsideInputError(`${written}: more than ${OUTSIDE_LIMITS.files} files; name a smaller folder`);
        if (bytes > BigInt(OUTSIDE_LIMITS.bytes)) throw new OutsideInputError(`${written}: more than ${OUTSIDE_LIMITS.bytes / 1024 ** 3} GiB; name a smaller folder`);
      } else throw refuse(describeSpecial(stats), absolutePath);
    }
  };
  walk(path);
  files.sort((a, b) => Buffer.compare(Buffer.from(a.relativePath), Buffer.from(b.relativePath)));
  return { kind: 'folder', files };
}

function describeSpecial(stats: Stats): string {
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Reads a whole regular file, at most its size at stat time, checking the abort signal between chunks. */
function readRegularFile(entry: FileEntry, written: string, signal?: AbortSignal): Uint8Array {
  const size = Number(entry.stats.size);
  if (size > OUTSIDE_LIMITS.bytes) throw new OutsideInputError(`${written}: ${entry.relativePath} is larger than ${OUTSIDE_LIMITS.bytes / 1024 ** 3} GiB`);
  const fd = openSync(entry.absolutePath, 'r');
  try {
    const bytes = new Uint8Array(new ArrayBuffer(size));
    let offset = 0;
    while (offset < size) {
      signal?.throwIfAborted();
      const read = readSync(fd, bytes, offset, Math.min(size - offset, 64 * 1024 * 1024), offset);
      if (read === 0) break;
      offset += read;
    }
    if (offset !== size || fstatSync(fd).size !== size) throw new OutsideInputError(`${written}: ${entry.relativePath} changed size while being read; run again once it is stable`);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

function folderHash(files: readonly { relativePath: string; hash: string }[]): string {
  return sha256Hex(files.map((file) => `${file.hash}  ${file.relativePath}\n`).join(''));
}

function statRecordMatches(record: StatRecord | undefined, stats: FileEntry['stats']): record is StatRecord {
  return (
    record !== undefined &&
    record.size === Number(stats.size) &&
    record.mtimeNs === String(stats.mtimeNs) &&
    record.ctimeNs === String(stats.ctimeNs) &&
    record.inode === String(stats.ino)
  );
}

function rememberable(stats: FileEntry['stats'], hashedAtMs: number): boolean {
  return hashedAtMs - Number(stats.mtimeNs / 1_000_000n) > RACY_WINDOW_MS && hashedAtMs - Number(stats.ctimeNs / 1_000_000n) > RACY_WINDOW_MS;
}

function recordOf(stats: FileEntry['stats'], hash: string): StatRecord {
  return { size: Number(stats.size), mtimeNs: String(stats.mtimeNs), ctimeNs: String(stats.ctimeNs), inode: String(stats.ino), hash };
}

/** The content hash of a source, re-reading only files whose stat changed since they were last hashed. */
export function hashOutside(source: OutsideSource, statCache: StatCache, signal?: AbortSignal): string {
  if ('url' in source) return source.sha256;
  const { kind, files } = listFiles(source.path, source.written, signal);
  const hashed = files.map((entry) => {
    const known = statCache.lookup(entry.absolutePath);
    if (statRecordMatches(known, entry.stats)) return { relativePath: entry.relativePath, hash: known.hash };
    const hash = sha256Hex(readRegularFile(entry, source.written, signal));
    if (rememberable(entry.stats, Date.now())) statCache.remember(entry.absolutePath, recordOf(entry.stats, hash));
    return { relativePath: entry.relativePath, hash };
  });
  return kind === 'file' ? hashed[0]!.hash : folderHash(hashed);
}

/** Reads a path source whole, and the hash of exactly the bytes read. */
export function readOutsidePath(source: Extract<OutsideSource, { path: string }>, statCache: StatCache, signal?: AbortSignal): { value: OutsideFiles; hash: string } {
  const { kind, files } = listFiles(source.path, source.written, signal);
  const contents = new Map<string, Uint8Array>();
  const hashed = files.map((entry) => {
    const bytes = readRegularFile(entry, source.written, signal);
    const hash = sha256Hex(bytes);
    if (rememberable(entry.stats, Date.now())) statCache.remember(entry.absolutePath, recordOf(entry.stats, hash));
    contents.set(entry.relativePath, bytes);
    return { relativePath: entry.relativePath, hash };
  });
  const hash = kind === 'file' ? hashed[0]!.hash : folderHash(hashed);
  return { value: { origin: source.written, kind, files: contents }, hash };
}

/** Downloads a URL source (bounded in size and time) and checks its sha256. */
export async function fetchOutsideUrl(source: Extract<OutsideSource, { url: string }>, options: { signal?: AbortSignal; timeoutSeconds?: number } = {}): Promise<Uint8Array> {
  const timeoutSeconds = options.timeoutSeconds ?? 20;
  const timeout = AbortSignal.timeout(timeoutSeconds * 1000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch(source.url, { signal });
  } catch (error) {
    options.signal?.throwIfAborted();
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    throw new OutsideInputError(
      `${source.written}: cannot download (${timeout.aborted ? `no answer within ${timeoutSeconds} s` : (cause ?? (error as Error).message)}); offline, give a local copy as { path: ... } instead`,
    );
  }
  if (!response.ok || !response.body) throw new OutsideInputError(`${source.written}: HTTP ${response.status}; check the URL, or give a local copy as { path: ... }`);
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    received += chunk.length;
    if (received > OUTSIDE_LIMITS.bytes) throw new OutsideInputError(`${source.written}: larger than ${OUTSIDE_LIMITS.bytes / 1024 ** 3} GiB`);
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(Buffer.concat(chunks));
  const actual = sha256Hex(bytes);
  if (actual !== source.sha256) throw new OutsideInputError(`${source.written}: sha256 is ${actual}, the config pins ${source.sha256}; refusing it (changed or tampered copy)`);
  return bytes;
}

/** The file name a URL source is handed to the stage under. */
export function urlFileName(url: string): string {
  return basename(new URL(url).pathname) || 'download';
}
