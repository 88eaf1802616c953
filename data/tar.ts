// A reader for the tar archives CIFAR-10 ships in (ustar, GNU and pax headers), whole archive in memory.

export interface TarEntry {
  readonly path: string;
  /** A view into the archive: no copy. */
  readonly bytes: Uint8Array;
}

const BLOCK = 512;

function text(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return Buffer.from(end === -1 ? field : field.subarray(0, end)).toString('utf8');
}

function size(block: Uint8Array): number {
  const field = block.subarray(124, 136);
  // GNU base-256 encoding, used for members over 8 GiB.
  if (field[0] & 0x80) {
    let value = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
    return value;
  }
  const octal = text(block, 124, 12).trim();
  return octal === '' ? 0 : parseInt(octal, 8);
}

function paxPath(records: Uint8Array): string | undefined {
  for (const line of Buffer.from(records).toString('utf8').split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

/** The regular files of a tar archive, in archive order. */
export function readTar(archive: Uint8Array, archiveName: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let nextPath: string | undefined;
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    const type = String.fromCharCode(header[156] || 0x30);
    const length = size(header);
    const dataStart = offset + BLOCK;
    if (dataStart + length > archive.length) {
      throw new Error(`${archiveName}: tar member at byte ${offset} runs past the end of the archive (truncated download?)`);
    }
    const body = archive.subarray(dataStart, dataStart + length);
    if (type === 'L') {
      nextPath = text(body, 0, body.length);
    } else if (type === 'x') {
      nextPath = paxPath(body) ?? nextPath;
    } else {
      if (type === '0' || type === '7') {
        const prefix = text(header, 345, 155);
        const name = text(header, 0, 100);
        const isUstar = text(header, 257, 5) === 'ustar';
        entries.push({ path: nextPath ?? (isUstar && prefix ? `${prefix}/${name}` : name), bytes: body });
      }
      nextPath = undefined;
    }
    offset = dataStart + Math.ceil(length / BLOCK) * BLOCK;
  }
  return entries;
}
