// Bilinear resizing along one axis as a matrix: resized = A · original, so an image X resizes to
// A X Aᵀ and a gradient G flows back as Aᵀ G A. The default is the half-pixel-centre rule
// (PyTorch align_corners=False, TF2 tf.image.resize, tfjs resizeBilinear with
// halfPixelCenters=true) that the engines use; the other TensorFlow rules serve the tfjs kernels.

export interface ResizeRule {
  readonly alignCorners: boolean;
  readonly halfPixelCenters: boolean;
}

export const HALF_PIXEL_CENTRES: ResizeRule = { alignCorners: false, halfPixelCenters: true };

/** The to x from matrix A, row-major. Each row sums to 1. */
export function bilinearResizeMatrix(from: number, to: number, rule: ResizeRule = HALF_PIXEL_CENTRES): Float32Array {
  const matrix = new Float32Array(to * from);
  const ratio = rule.alignCorners && to > 1 ? (from - 1) / (to - 1) : from / to;
  for (let row = 0; row < to; row++) {
    const source = rule.halfPixelCenters ? ratio * (row + 0.5) - 0.5 : ratio * row;
    const lower = Math.max(0, Math.floor(source));
    const upper = Math.min(from - 1, Math.ceil(source));
    const fraction = source - Math.floor(source);
    matrix[row * from + lower] += 1 - fraction;
    matrix[row * from + upper] += fraction;
  }
  return matrix;
}
