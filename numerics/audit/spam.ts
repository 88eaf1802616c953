// SPAM features (Pevný, Bas and Fridrich, "Steganalysis by subtractive pixel adjacency matrix",
// IEEE TIFS 2010), second order, T = 3: the 686 features built for detecting ±1 embedding.
//
// Along each of 8 directions, the differences of neighbouring pixels D = I(p) - I(p + d),
// truncated to [-T, T], are modelled as a second-order Markov chain:
// M(w, v, u) = P(D(p + 2d) = u | D(p + d) = v, D(p) = w). The 4 straight directions
// (→ ← ↓ ↑) are averaged into the first 343 features, the 4 diagonal ones into the last 343.
// A colour image counts its three channels as three grey images (their counts are summed).

export const SPAM_THRESHOLD = 3;
const LEVELS = 2 * SPAM_THRESHOLD + 1;
const PER_GROUP = LEVELS ** 3;
export const SPAM_DIMENSION = 2 * PER_GROUP;

/**
 * Steps (dy, dx) of the straight directions → and ↓, then of the diagonal ones ↘ and ↙. Each
 * also stands for its opposite (← ↑ ↖ ↗): the chain along -d visits the same triples in reverse
 * order with negated differences, so its counts are those along d, with (w, v, u) -> (-u, -v, -w).
 */
const DIRECTION_GROUPS: readonly (readonly [number, number])[][] = [
  [
    [0, 1],
    [1, 0],
  ],
  [
    [1, 1],
    [1, -1],
  ],
];
/** Directions averaged per group: each step above and its opposite. */
const DIRECTIONS_PER_GROUP = 4;

/** Index of M(w, v, u) within a group, each difference in -T..T. */
export function spamIndex(w: number, v: number, u: number): number {
  return ((w + SPAM_THRESHOLD) * LEVELS + (v + SPAM_THRESHOLD)) * LEVELS + (u + SPAM_THRESHOLD);
}

export interface ImageLayout {
  /** Width and height (square images). */
  readonly side: number;
  /** Interleaved channels per pixel (HWC). */
  readonly channels: number;
}

/** Adds the transition probabilities of `counts` (a 7x7x7 count array), divided by `share`, into `transitions`. */
function addTransitions(counts: Int32Array, transitions: Float64Array, share: number): void {
  for (let row = 0; row < PER_GROUP; row += LEVELS) {
    let total = 0;
    for (let u = 0; u < LEVELS; u++) total += counts[row + u];
    if (total > 0) for (let u = 0; u < LEVELS; u++) transitions[row + u] += counts[row + u] / total / share;
  }
}

/** The 686 SPAM features of each of `count` images (HWC uint8, row-major), count x 686 row-major. */
export function spamFeatures(pixels: Uint8Array, count: number, layout: ImageLayout = { side: 32, channels: 3 }): Float32Array {
  const { side, channels } = layout;
  const area = side * side;
  const imageBytes = area * channels;
  if (pixels.length !== count * imageBytes) throw new Error(`spamFeatures: ${pixels.length} bytes for ${count} images of ${imageBytes}`);
  // The truncated level (0..2T) of every pixel difference -255..255.
  const levelOf = Int32Array.from({ length: 511 }, (_, i) => Math.min(SPAM_THRESHOLD, Math.max(-SPAM_THRESHOLD, i - 255)) + SPAM_THRESHOLD);
  // Index of the reversed, negated triple: (w, v, u) -> (-u, -v, -w).
  const reversed = Int32Array.from({ length: PER_GROUP }, (_, index) => {
    const [w, v, u] = [Math.floor(index / (LEVELS * LEVELS)), Math.floor(index / LEVELS) % LEVELS, index % LEVELS];
    const flip = (level: number) => 2 * SPAM_THRESHOLD - level;
    return (flip(u) * LEVELS + flip(v)) * LEVELS + flip(w);
  });
  const features = new Float32Array(count * SPAM_DIMENSION);
  const plane = new Int32Array(area);
  const levels = new Int32Array(area);
  const counts = new Int32Array(PER_GROUP);
  const opposite = new Int32Array(PER_GROUP);
  const transitions = new Float64Array(PER_GROUP);
  for (let image = 0; image < count; image++) {
    const base = image * imageBytes;
    DIRECTION_GROUPS.forEach((directions, group) => {
      transitions.fill(0);
      for (const [dy, dx] of directions) {
        counts.fill(0);
        const step = dy * side + dx;
        // Positions p whose chain p, p+d, p+2d, p+3d stays inside the image (dy >= 0 here).
        const [xFrom, xTo] = dx >= 0 ? [0, side - 3 * dx] : [-3 * dx, side];
        for (let channel = 0; channel < channels; channel++) {
          for (let p = 0; p < area; p++) plane[p] = pixels[base + p * channels + channel];
          for (let p = 0; p + step < area; p++) levels[p] = levelOf[plane[p] - plane[p + step] + 255];
          for (let y = 0; y < side - 3 * dy; y++) {
            for (let p = y * side + xFrom, end = y * side + xTo; p < end; p++) {
              counts[(levels[p] * LEVELS + levels[p + step]) * LEVELS + levels[p + 2 * step]]++;
            }
          }
        }
        for (let index = 0; index < PER_GROUP; index++) opposite[index] = counts[reversed[index]];
        addTransitions(counts, transitions, DIRECTIONS_PER_GROUP);
        addTransitions(opposite, transitions, DIRECTIONS_PER_GROUP);
      }
      features.set(transitions, image * SPAM_DIMENSION + group * PER_GROUP);
    });
  }
  return features;
}
