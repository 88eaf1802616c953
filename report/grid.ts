// A labelled PNG grid of training images: a row of originals, the same images perturbed, and
// their signed difference (perturbed - original, mean of R, G and B) on a diverging colour map
// with its scale bar; each image upscaled by nearest neighbour, each column titled by its class.

import { IMAGE_BYTES, IMAGE_CHANNELS, IMAGE_SIDE, type ImageSet } from '../data/tables.js';
import { drawText, LINE_HEIGHT, textWidthPixels } from './bitmap-font.js';

export const GRID_SCALE = 4;
const GRID_GAP = 4;
/** Font pixels per bitmap-font pixel. */
const LABEL_SCALE = 2;
const MARGIN = 8;
const BAR = { width: 192, height: 14 };
const BACKGROUND = 255;
const INK: readonly [number, number, number] = [26, 26, 26];
export const GRID_ROWS = ['original', 'perturbed', 'difference'] as const;

/**
 * A diverging colour map (ColorBrewer's RdBu, reversed): blue where the perturbation lowered a
 * pixel, near-white where it left it, red where it raised it; t in -1..1.
 */
const DIVERGING: readonly (readonly [number, number, number])[] = [
  [33, 102, 172],
  [146, 197, 222],
  [247, 247, 247],
  [244, 165, 130],
  [178, 24, 43],
];

export function divergingColor(t: number): [number, number, number] {
  const clamped = Math.max(-1, Math.min(1, t));
  const position = ((clamped + 1) / 2) * (DIVERGING.length - 1);
  const low = Math.min(DIVERGING.length - 2, Math.floor(position));
  const mix = position - low;
  return [0, 1, 2].map((c) => Math.round(DIVERGING[low][c] + mix * (DIVERGING[low + 1][c] - DIVERGING[low][c]))) as [number, number, number];
}

export interface GridOptions {
  /** How many images, taken from the start of the original set. */
  readonly images: number;
  /** Where the perturbed images come from (method, direction, step, budget...), printed under the grid. */
  readonly provenance?: Readonly<Record<string, string>>;
}

interface Pair {
  readonly before: Uint8Array;
  readonly after: Uint8Array;
  readonly label: string;
}

/** The pixels of each selected original image and of the perturbed image with the same index. */
function pairImages(original: ImageSet, perturbed: ImageSet, count: number): Pair[] {
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
      label: original.classes[original.labels[position]] ?? String(original.labels[position]),
    });
  }
  return pairs;
}

/** Per pixel, the mean over the channels of (after - before), in levels. */
function signedDifference(before: Uint8Array, after: Uint8Array): Float32Array {
  const out = new Float32Array(before.length / IMAGE_CHANNELS);
  for (let pixel = 0; pixel < out.length; pixel++) {
    let sum = 0;
    for (let c = 0; c < IMAGE_CHANNELS; c++) sum += after[pixel * IMAGE_CHANNELS + c] - before[pixel * IMAGE_CHANNELS + c];
    out[pixel] = sum / IMAGE_CHANNELS;
  }
  return out;
}

/** Where everything sits; exported so that tests can read the pixels back. */
export interface GridGeometry {
  readonly width: number;
  readonly height: number;
  readonly cell: number;
  readonly columnLabelTop: number;
  readonly footerTop: number;
  cellLeft(column: number): number;
  rowTop(row: number): number;
}

function footerText(scale: number): { low: string; high: string; caption: string } {
  return { low: `-${scale}`, high: `+${scale}`, caption: 'levels: perturbed - original, mean of R,G,B' };
}

function provenanceLine(provenance: Readonly<Record<string, string>>): string {
  const entries = Object.entries(provenance).filter(([key]) => key !== 'layout');
  return entries.length === 0 ? '' : `perturbed: ${entries.map(([key, value]) => `${key} ${value}`).join(', ')}`;
}

export function gridGeometry(columns: number, differenceScale: number, provenance: Readonly<Record<string, string>> = {}): GridGeometry {
  const cell = IMAGE_SIDE * GRID_SCALE;
  const line = LINE_HEIGHT * LABEL_SCALE;
  const labelColumn = Math.max(...GRID_ROWS.map((row) => textWidthPixels(row, LABEL_SCALE))) + 2 * MARGIN;
  const footer = footerText(differenceScale);
  const footerWidth = textWidthPixels(`${footer.low} `, LABEL_SCALE) + BAR.width + textWidthPixels(` ${footer.high}  ${footer.caption}`, LABEL_SCALE);
  const imagesWidth = labelColumn + columns * (cell + GRID_GAP) + MARGIN;
  const width = Math.max(imagesWidth, labelColumn + footerWidth + MARGIN, textWidthPixels(provenanceLine(provenance), LABEL_SCALE) + 2 * MARGIN);
  const columnLabelTop = MARGIN;
  const firstRowTop = columnLabelTop + line + GRID_GAP;
  const footerTop = firstRowTop + GRID_ROWS.length * (cell + GRID_GAP) + MARGIN;
  const lines = provenanceLine(provenance) === '' ? 1 : 2;
  return {
    width,
    height: footerTop + lines * (line + MARGIN),
    cell,
    columnLabelTop,
    footerTop,
    cellLeft: (column) => labelColumn + column * (cell + GRID_GAP),
    rowTop: (row) => firstRowTop + row * (cell + GRID_GAP),
  };
}

/** Rows: original, perturbed, signed difference; one column per image; labels, a colour bar and its scale. */
export async function renderImageGrid(original: ImageSet, perturbed: ImageSet, options: GridOptions): Promise<Uint8Array> {
  const pairs = pairImages(original, perturbed, options.images);
  if (pairs.length === 0) throw new Error('report grid: the original image set is empty');
  const differences = pairs.map(({ before, after }) => signedDifference(before, after));
  const largest = Math.max(...differences.map((difference) => difference.reduce((max, value) => Math.max(max, Math.abs(value)), 0)));
  const differenceScale = Math.max(1, Math.ceil(largest - 1e-6));
  const provenance = options.provenance ?? {};
  const geometry = gridGeometry(pairs.length, differenceScale, provenance);
  const { width, cell } = geometry;
  const canvas = new Uint8Array(width * geometry.height * IMAGE_CHANNELS).fill(BACKGROUND);
  const put = (x: number, y: number, color: ArrayLike<number>) => canvas.set(color, (y * width + x) * IMAGE_CHANNELS);
  const text = (value: string, left: number, top: number) => drawText(canvas, width, value, left, top, LABEL_SCALE, INK);
  const line = LINE_HEIGHT * LABEL_SCALE;

  GRID_ROWS.forEach((label, row) => text(label, MARGIN, geometry.rowTop(row) + (cell - line) / 2));
  pairs.forEach(({ before, after, label }, column) => {
    const left = geometry.cellLeft(column);
    const fitting = label.slice(0, Math.floor(cell / textWidthPixels('m', LABEL_SCALE)));
    text(fitting, left + Math.floor((cell - textWidthPixels(fitting, LABEL_SCALE)) / 2), geometry.columnLabelTop);
    const difference = differences[column];
    for (let y = 0; y < cell; y++) {
      const sourceRow = Math.floor(y / GRID_SCALE) * IMAGE_SIDE;
      for (let x = 0; x < cell; x++) {
        const pixel = sourceRow + Math.floor(x / GRID_SCALE);
        const source = pixel * IMAGE_CHANNELS;
        put(left + x, geometry.rowTop(0) + y, before.subarray(source, source + IMAGE_CHANNELS));
        put(left + x, geometry.rowTop(1) + y, after.subarray(source, source + IMAGE_CHANNELS));
        put(left + x, geometry.rowTop(2) + y, divergingColor(difference[pixel] / differenceScale));
      }
    }
  });

  const footer = footerText(differenceScale);
  const barLeft = geometry.cellLeft(0) + textWidthPixels(`${footer.low} `, LABEL_SCALE);
  const barTop = geometry.footerTop + (line - BAR.height) / 2 - LABEL_SCALE;
  text(footer.low, geometry.cellLeft(0), geometry.footerTop);
  for (let x = 0; x < BAR.width; x++) {
    const color = divergingColor((2 * x) / (BAR.width - 1) - 1);
    for (let y = 0; y < BAR.height; y++) put(barLeft + x, barTop + y, color);
  }
  text(` ${footer.high}  ${footer.caption}`, barLeft + BAR.width, geometry.footerTop);
  const provenanceText = provenanceLine(provenance);
  if (provenanceText !== '') text(provenanceText, MARGIN, geometry.footerTop + line + MARGIN);
  // Loaded here: fast-png (and its zlib) is a tenth of a run that reuses every result.
  const { encode } = await import('fast-png');
  return encode({ width, height: geometry.height, data: canvas, channels: IMAGE_CHANNELS, depth: 8 });
}
