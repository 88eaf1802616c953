// A PNG grid of training images: the originals, the same images perturbed, and their
// difference amplified around mid-grey, each image upscaled by nearest neighbour.

import { IMAGE_BYTES, IMAGE_CHANNELS, IMAGE_SIDE, type ImageSet } from '../data/tables.js';

export const GRID_SCALE = 4;
export const GRID_GAP = 4;
/** The difference row's value for an unchanged pixel. */
export const UNCHANGED_GREY = 128;
const BACKGROUND = 255;

export interface GridOptions {
  /** How many images, taken from the start of the original set. */
  readonly images: number;
  /** Factor applied to (perturbed - original) before adding mid-grey. */
  readonly amplify: number;
}

/** The pixels of each selected original image and of the perturbed image with the same index. */
function pairImages(original: ImageSet, perturbed: ImageSet, count: number): { before: Uint8Array; after: Uint8Array }[] {
  const perturbedPosition = new Map<number, number>();
  perturbed.indices.forEach((index, position) => perturbedPosition.set(index, position));
  const pairs = [];
  for (let position = 0; position < Math.min(count, original.count); position++) {
    const index = original.indices[position];
    const match = perturbedPosition.get(index);
    if (match === undefined) throw new Error(`report grid: the perturbed images have no image with index ${index} (the original's #${position})`);
    pairs.push({
      before: original.pixels.subarray(position * IMAGE_BYTES, (position + 1) * IMAGE_BYTES),
      after: perturbed.pixels.subarray(match * IMAGE_BYTES, (match + 1) * IMAGE_BYTES),
    });
  }
  return pairs;
}

export function amplifiedDifference(before: Uint8Array, after: Uint8Array, amplify: number): Uint8Array {
  const out = new Uint8Array(before.length);
  for (let i = 0; i < before.length; i++) {
    const value = Math.round(UNCHANGED_GREY + amplify * (after[i] - before[i]));
    out[i] = value < 0 ? 0 : value > 255 ? 255 : value;
  }
  return out;
}

/** Rows: original, perturbed, amplified difference; one column per image; white gaps between cells. */
export async function renderImageGrid(original: ImageSet, perturbed: ImageSet, options: GridOptions): Promise<Uint8Array> {
  const pairs = pairImages(original, perturbed, options.images);
  if (pairs.length === 0) throw new Error('report grid: the original image set is empty');
  const cell = IMAGE_SIDE * GRID_SCALE;
  const width = pairs.length * cell + (pairs.length + 1) * GRID_GAP;
  const imageColumns = pairs.map(({ before, after }) => [before, after, amplifiedDifference(before, after, options.amplify)]);
  const height = 3 * cell + 4 * GRID_GAP;
  const canvas = new Uint8Array(width * height * IMAGE_CHANNELS).fill(BACKGROUND);

  imageColumns.forEach((images, column) => {
    images.forEach((image, row) => {
      const left = GRID_GAP + column * (cell + GRID_GAP);
      const top = GRID_GAP + row * (cell + GRID_GAP);
      for (let y = 0; y < cell; y++) {
        const sourceRow = Math.floor(y / GRID_SCALE) * IMAGE_SIDE;
        for (let x = 0; x < cell; x++) {
          const source = (sourceRow + Math.floor(x / GRID_SCALE)) * IMAGE_CHANNELS;
          const target = ((top + y) * width + left + x) * IMAGE_CHANNELS;
          canvas.set(image.subarray(source, source + IMAGE_CHANNELS), target);
        }
      }
    });
  });
  // Loaded here: fast-png (and its zlib) is a tenth of a run that reuses every result.
  const { encode } = await import('fast-png');
  return encode({ width, height, data: canvas, channels: IMAGE_CHANNELS, depth: 8 });
}
