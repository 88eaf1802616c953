// Canonical JSON and stage instance keys.

import { sha256 } from '../cache/store.js';

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    return sorted;
  }
  return value;
}

/** Content hashes of the artifacts bound to a stage's inputs: one hash, or one per instance for `many` inputs. */
export type InputHashes = Record<string, string | Record<string, string>>;

export interface KeyMaterial {
  readonly stageType: string;
  readonly stageVersion: number;
  readonly params: Record<string, unknown>;
  readonly inputs: InputHashes;
  /** For `many` inputs, the matrix coordinates of each producing instance (they reach the stage as data). */
  readonly coordinates?: Record<string, Record<string, Readonly<Record<string, unknown>>>>;
}

/** The cache key of a stage instance: what it computes, from what. */
export function instanceKey(material: KeyMaterial): string {
  const { stageType: stage, stageVersion: version, params, inputs, coordinates } = material;
  return sha256(canonicalJson(coordinates && Object.keys(coordinates).length > 0 ? { stage, version, params, inputs, coordinates } : { stage, version, params, inputs }));
}
