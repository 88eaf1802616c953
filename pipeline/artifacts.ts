// Artifact values <-> bytes, one encoding per kind.

import { arrow, type Table } from './arrow.js';
import type { ArtifactKind, ArtifactValues, Blob, JsonValue, Metrics } from './stage.js';
import { canonicalJson } from './hashing.js';

/**
 * An artifact's file: the concatenation of `parts`. A table's parts are Arrow's encoded buffers,
 * most of them views of the table's own columns: joining them into one array took 1.3 s per
 * 614 MB feature table, and as much memory again (docs/speed.md).
 */
export interface EncodedArtifact {
  readonly parts: readonly Uint8Array[];
  readonly extension: string;
}

const BLOB_EXTENSION = /^[a-z0-9]{1,16}$/;

/** Checks a value a stage returned against its declared kind; returns a description of the problem, if any. */
export async function describeKindMismatch(kind: ArtifactKind, value: unknown): Promise<string | undefined> {
  switch (kind) {
    case 'table': {
      const { Table } = arrow();
      return value instanceof Table ? undefined : 'expected an apache-arrow Table';
    }
    case 'json':
      return value === undefined ? 'expected a JSON value, got undefined' : undefined;
    case 'metrics': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'expected a flat object of numbers and strings';
      const bad = Object.entries(value).find(([, entry]) => typeof entry !== 'number' && typeof entry !== 'string');
      return bad ? `metrics entry "${bad[0]}" is ${typeof bad[1]}, expected a number or a string` : undefined;
    }
    case 'blob': {
      const blob = value as Partial<Blob> | null;
      if (!blob || !(blob.bytes instanceof Uint8Array)) return 'expected { extension, bytes: Uint8Array }';
      return typeof blob.extension === 'string' && BLOB_EXTENSION.test(blob.extension)
        ? undefined
        : `blob extension ${JSON.stringify(blob.extension)} must be 1-16 lowercase letters or digits, without the dot`;
    }
  }
}

export async function encodeArtifact<K extends ArtifactKind>(kind: K, value: ArtifactValues[K]): Promise<EncodedArtifact> {
  switch (kind) {
    case 'table': {
      // The bytes of tableToIPC(table, 'file'), as the writer emits them.
      const parts: Uint8Array[] = [];
      for await (const part of arrow().RecordBatchFileWriter.writeAll(value as Table)) parts.push(part);
      return { parts, extension: 'arrow' };
    }
    case 'json':
    case 'metrics':
      return { parts: [Buffer.from(canonicalJson(value), 'utf8')], extension: 'json' };
    case 'blob': {
      const blob = value as Blob;
      return { parts: [blob.bytes], extension: blob.extension };
    }
  }
  throw new Error(`unknown artifact kind ${kind as string}`);
}

export async function decodeArtifact(kind: ArtifactKind, bytes: Uint8Array, extension: string): Promise<ArtifactValues[ArtifactKind]> {
  switch (kind) {
    case 'table': {
      const { tableFromIPC } = arrow();
      return tableFromIPC(bytes);
    }
    case 'json':
      return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as JsonValue;
    case 'metrics':
      return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as Metrics;
    case 'blob':
      return { extension, bytes };
  }
}
