// Bilinear resizing with half-pixel centres (PyTorch align_corners=False, TF2 tf.image.resize,
// tfjs resizeBilinear with halfPixelCenters=true), as a matrix: along one axis,
// resized = A · original, so an image X resizes to A X Aᵀ and a gradient G flows back as Aᵀ G A.

/** The to x from matrix A, row-major. Each row sums to 1. */
export function bilinearResizeMatrix(from: number, to: number): Float32Array {
  const matrix = new Float32Array(to * from);
  const ratio = from / to;
  for (let row = 0; row < to; row++) {
    const source = Math.max((row + 0.5) * ratio - 0.5, 0);
    const lower = Math.min(Math.floor(source), from - 1);
    const upper = Math.min(lower + 1, from - 1);
    const upperWeight = source - lower;
    matrix[row * from + lower] += 1 - upperWeight;
    matrix[row * from + upper] += upperWeight;
  }
  return matrix;
}

/** Resizes count HWC images of side `from` with `channels` channels to side `to` (float output). */
export function resizeBilinear(pixels: ArrayLike<number>, count: number, from: number, to: number, channels: number): Float32Array {
  const matrix = bilinearResizeMatrix(from, to);
  const output = new Float32Array(count * to * to * channels);
  const rows = new Float32Array(to * from * channels);
  for (let image = 0; image < count; image++) {
    const base = image * from * from * channels;
    rows.fill(0);
    for (let y = 0; y < to; y++)
      for (let k = 0; k < from; k++) {
        const weight = matrix[y * from + k];
        if (weight === 0) continue;
        for (let i = 0; i < from * channels; i++) rows[y * from * channels + i] += weight * pixels[base + k * from * channels + i];
      }
    const outBase = image * to * to * channels;
    for (let y = 0; y < to; y++)
      for (let x = 0; x < to; x++)
        for (let k = 0; k < from; k++) {
          const weight = matrix[x * from + k];
          if (weight === 0) continue;
          for (let c = 0; c < channels; c++) output[outBase + (y * to + x) * channels + c] += weight * rows[(y * from + k) * channels + c];
        }
  }
  return output;
}
