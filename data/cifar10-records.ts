// CIFAR-10's binary record layout and conversions to and from ImageSet.
//
// A record file is a run of 3073-byte records: 1 label byte, then the 32x32 red plane,
// the green plane and the blue plane, each row-major (channel-major "CHW").
// An ImageSet holds the same pixels interleaved ("HWC"), see data/tables.ts.

import { IMAGE_BYTES, IMAGE_CHANNELS, IMAGE_SIDE, type ImageSet } from './tables.js';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;
export const RECORD_BYTES = 1 + IMAGE_BYTES;
const PLANE = IMAGE_SIDE * IMAGE_SIDE;

export function recordCount(records: Uint8Array, fileName: string): number {
  if (records.length % RECORD_BYTES !== 0) {
    throw new Error(`${fileName}: ${records.length} bytes is not a whole number of ${RECORD_BYTES}-byte CIFAR-10 records`);
  }
  return records.length / RECORD_BYTES;
}

/** Positions (within the split) of the first `perClass` images of each class, in original order; 0 keeps all. */
export function firstPerClass(labels: Uint8Array, perClass: number): Int32Array {
  if (perClass === 0) return Int32Array.from(labels, (_, i) => i);
  const taken = new Map<number, number>();
  const chosen: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const count = taken.get(labels[i]) ?? 0;
    if (count < perClass) {
      chosen.push(i);
      taken.set(labels[i], count + 1);
    }
  }
  return Int32Array.from(chosen);
}

/** The label of each record in a split made of several record files, concatenated. */
export function recordLabels(files: readonly Uint8Array[]): Uint8Array {
  const counts = files.map((file) => file.length / RECORD_BYTES);
  const labels = new Uint8Array(counts.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const file of files) {
    for (let offset = 0; offset < file.length; offset += RECORD_BYTES) labels[at++] = file[offset];
  }
  return labels;
}

/**
 * The images of a split (its record files in order) as an ImageSet.
 * `originalIndices` are the positions of the records to keep (see firstPerClass); they become the set's indices.
 */
export function recordsToImageSet(files: readonly Uint8Array[], originalIndices: Int32Array): ImageSet {
  const fileOfRecord: { file: Uint8Array; offset: number }[] = [];
  for (const file of files) {
    for (let offset = 0; offset < file.length; offset += RECORD_BYTES) fileOfRecord.push({ file, offset });
  }
  const count = originalIndices.length;
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * IMAGE_BYTES);
  for (let n = 0; n < count; n++) {
    const source = fileOfRecord[originalIndices[n]];
    if (!source) throw new Error(`record ${originalIndices[n]} is past the end of the split (${fileOfRecord.length} records)`);
    const { file, offset } = source;
    labels[n] = file[offset];
    const planes = offset + 1;
    const image = n * IMAGE_BYTES;
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < IMAGE_CHANNELS; c++) pixels[image + p * IMAGE_CHANNELS + c] = file[planes + c * PLANE + p];
    }
  }
  return { count, labels, pixels, indices: originalIndices, classes: [...CIFAR10_CLASSES] };
}

/** The inverse of recordsToImageSet: one record file holding the set's images in order. */
export function imageSetToRecords(set: ImageSet): Uint8Array {
  const records = new Uint8Array(set.count * RECORD_BYTES);
  for (let n = 0; n < set.count; n++) {
    const offset = n * RECORD_BYTES;
    records[offset] = set.labels[n];
    const image = n * IMAGE_BYTES;
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < IMAGE_CHANNELS; c++) records[offset + 1 + c * PLANE + p] = set.pixels[image + p * IMAGE_CHANNELS + c];
    }
  }
  return records;
}

/**
 * Records from the npm copy's layout: a sheet whose row i is image i (32x32 RGB pixels, interleaved),
 * plus the labels in the same order.
 */
export function interleavedRowsToRecords(rows: Uint8Array, labels: readonly number[]): Uint8Array {
  if (rows.length !== labels.length * IMAGE_BYTES) {
    throw new Error(`${rows.length} pixel bytes for ${labels.length} labels (expected ${labels.length * IMAGE_BYTES})`);
  }
  return imageSetToRecords({
    count: labels.length,
    labels: Uint8Array.from(labels),
    pixels: rows,
    indices: new Int32Array(0),
    classes: [],
  });
}
