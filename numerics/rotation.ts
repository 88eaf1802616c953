// Section 4.2 of the paper: rotating the training features so that a fair refit rotates toward
// the desired model. For a binary hinge SVM, an orthonormal R gives w*(Rx, y) = R w*(x, y); the
// first-order rotation carrying w_train toward w_desired is I + delta (w_desired w_train^T -
// w_train w_desired^T). For K one-vs-rest classes the generator is the sum of the per-class
// planes, S = sum_k (a_k b_k^T - b_k a_k^T), a_k the desired and b_k the fair weights of class k,
// on the features with the bias's constant appended. The vectors are scaled to unit length, so
// that delta is an angle in radians (for orthogonal a_k and b_k) whatever the weights' scale.

import type { AugmentedWeights } from './linear-head.js';

function unitRows(weights: AugmentedWeights): Float64Array {
  const unit = new Float64Array(weights.vectors.length);
  for (let c = 0; c < weights.classes; c++) {
    const row = weights.vectors.subarray(c * weights.length, (c + 1) * weights.length);
    const norm = Math.sqrt(row.reduce((sum, value) => sum + value * value, 0));
    if (norm === 0) throw new Error(`class ${c} has all-zero weights: no rotation plane`);
    for (let i = 0; i < row.length; i++) unit[c * weights.length + i] = row[i] / norm;
  }
  return unit;
}

/**
 * Target features x' = x + delta S [x, constant] for each row of `features` (count x d), the
 * constant coordinate dropped (an image cannot move it). Positive delta turns the fair model
 * toward the desired one, negative away from it.
 */
export function rotationTargets(features: Float32Array, count: number, desired: AugmentedWeights, fair: AugmentedWeights, delta: number): Float32Array {
  if (desired.classes !== fair.classes || desired.length !== fair.length || desired.constant !== fair.constant) {
    throw new Error(
      `the desired and fair models differ: ${desired.classes} x ${desired.length - 1} with bias ${desired.constant} against ${fair.classes} x ${fair.length - 1} with bias ${fair.constant}`,
    );
  }
  const d = desired.length - 1;
  if (features.length !== count * d) throw new Error(`${features.length} feature values for ${count} rows of ${d}`);
  const a = unitRows(desired);
  const b = unitRows(fair);
  const targets = features.slice();
  for (let n = 0; n < count; n++) {
    const x = features.subarray(n * d, (n + 1) * d);
    for (let c = 0; c < desired.classes; c++) {
      const row = c * desired.length;
      let ax = a[row + d] * desired.constant;
      let bx = b[row + d] * desired.constant;
      for (let i = 0; i < d; i++) {
        ax += a[row + i] * x[i];
        bx += b[row + i] * x[i];
      }
      // delta (a b^T - b a^T) x = delta ((b.x) a - (a.x) b)
      for (let i = 0; i < d; i++) targets[n * d + i] += delta * (bx * a[row + i] - ax * b[row + i]);
    }
  }
  return targets;
}
