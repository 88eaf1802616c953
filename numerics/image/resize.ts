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
