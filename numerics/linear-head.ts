// A one-vs-rest linear SVM seen as the linear head the engines differentiate, its weights as
// vectors (the bias as the appended constant feature, as LIBLINEAR's -B treats it), and the
// angle between two models' weight vectors.

import type { LinearHead } from './engines/engine.js';
import type { LinearSvmModel } from './svm/model.js';

function checkOneVsRest(model: LinearSvmModel, what: string): void {
  if (model.biasWeights.length !== model.classes.length) {
    throw new Error(`${what} has ${model.biasWeights.length} decision rows for ${model.classes.length} classes: a one-vs-rest model of at least 3 classes is needed`);
  }
}

/** The model's decision rows reordered so that row c scores class c, as the engines' cross-entropy expects. */
export function linearHead(model: LinearSvmModel, what = 'the model'): LinearHead {
  checkOneVsRest(model, what);
  const classes = model.classes.length;
  const d = model.dimension;
  const weights = new Float32Array(classes * d);
  const bias = new Float32Array(classes);
  model.labels.forEach((classIndex, row) => {
    weights.set(model.weights.subarray(row * d, (row + 1) * d), classIndex * d);
    bias[classIndex] = model.settings.bias >= 0 ? model.settings.bias * model.biasWeights[row] : 0;
  });
  return { classes, dimension: d, weights, bias };
}

/** Weight vectors [w, w_bias] of a one-vs-rest model, row c for class c, and the constant feature they expect. */
export interface AugmentedWeights {
  readonly classes: number;
  /** Length of a vector: the feature dimension + 1 (the bias weight; 0 for a model without bias). */
  readonly length: number;
  /** classes x length, row-major. */
  readonly vectors: Float64Array;
  /** Value of the appended constant feature (LIBLINEAR's -B; 0 without bias). */
  readonly constant: number;
}

export function augmentedWeights(model: LinearSvmModel, what = 'the model'): AugmentedWeights {
  checkOneVsRest(model, what);
  const d = model.dimension;
  const length = d + 1;
  const vectors = new Float64Array(model.classes.length * length);
  model.labels.forEach((classIndex, row) => {
    vectors.set(model.weights.subarray(row * d, (row + 1) * d), classIndex * length);
    vectors[classIndex * length + d] = model.settings.bias >= 0 ? model.biasWeights[row] : 0;
  });
  return { classes: model.classes.length, length, vectors, constant: Math.max(model.settings.bias, 0) };
}

function checkSameShape(a: AugmentedWeights, b: AugmentedWeights): void {
  if (a.classes !== b.classes || a.length !== b.length) {
    throw new Error(`the two models differ in shape: ${a.classes} classes x ${a.length - 1} features against ${b.classes} x ${b.length - 1}`);
  }
}

/** Angle in degrees between the weight vectors (bias weight included) of each class of two models. */
export function classAngles(a: AugmentedWeights, b: AugmentedWeights): number[] {
  checkSameShape(a, b);
  return Array.from({ length: a.classes }, (_, c) => {
    let dot = 0;
    let normA = 0;
    let normB = 0;
    for (let i = c * a.length; i < (c + 1) * a.length; i++) {
      dot += a.vectors[i] * b.vectors[i];
      normA += a.vectors[i] * a.vectors[i];
      normB += b.vectors[i] * b.vectors[i];
    }
    const cosine = dot / Math.sqrt(normA * normB);
    return (Math.acos(Math.min(1, Math.max(-1, cosine))) * 180) / Math.PI;
  });
}

/**
 * Each class's weight vector split into its projection on the plane of the desired and fair
 * weights of that class, and the rest: how much of a refit turned toward the desired model
 * (in the plane) and how much went elsewhere. `offPlaneShare[c]` is |rest| / |weights|.
 */
export function planeParts(model: AugmentedWeights, desired: AugmentedWeights, fair: AugmentedWeights): { inPlane: AugmentedWeights; offPlaneShare: number[] } {
  checkSameShape(model, desired);
  checkSameShape(model, fair);
  const n = model.length;
  const inPlane = new Float64Array(model.vectors.length);
  const offPlaneShare = Array.from({ length: model.classes }, (_, c) => {
    const [w, a, b] = [model, desired, fair].map((weights) => weights.vectors.subarray(c * n, (c + 1) * n));
    const dot = (u: Float64Array, v: Float64Array) => u.reduce((sum, value, j) => sum + value * v[j], 0);
    // Least squares of w on [a, b]: the 2 x 2 normal equations.
    const [aa, ab, bb, aw, bw] = [dot(a, a), dot(a, b), dot(b, b), dot(a, w), dot(b, w)];
    const determinant = aa * bb - ab * ab;
    if (!(determinant > 0)) throw new Error(`class ${c}: the desired and fair weights are parallel (or zero): no plane`);
    const alpha = (bb * aw - ab * bw) / determinant;
    const beta = (aa * bw - ab * aw) / determinant;
    let rest = 0;
    for (let j = 0; j < n; j++) {
      const projected = alpha * a[j] + beta * b[j];
      inPlane[c * n + j] = projected;
      rest += (w[j] - projected) ** 2;
    }
    return Math.sqrt(rest / dot(w, w));
  });
  return { inPlane: { ...model, vectors: inPlane }, offPlaneShare };
}

/** The head's mean softmax cross-entropy and accuracy on labelled features (count x head.dimension). */
export function headLossAndAccuracy(head: LinearHead, features: Float32Array, labels: Uint8Array): { loss: number; accuracy: number } {
  const count = labels.length;
  if (features.length !== count * head.dimension) throw new Error(`${features.length} feature values for ${count} labels of ${head.dimension} features`);
  const logits = [new Float64Array(head.classes), new Float64Array(head.classes)] as const;
  let lossSum = 0;
  let correct = 0;
  for (let n = 0; n < count; n += 2) {
    // The last row of an odd count is computed twice, and counted once.
    const second = Math.min(n + 1, count - 1);
    headLogits(head, features, n * head.dimension, second * head.dimension, ...logits);
    for (let r = 0; r < second - n + 1; r++) {
      const rowLogits = logits[r];
      const label = labels[n + r];
      let best = 0;
      for (let k = 1; k < head.classes; k++) if (rowLogits[k] > rowLogits[best]) best = k;
      let exponentials = 0;
      for (let k = 0; k < head.classes; k++) exponentials += Math.exp(rowLogits[k] - rowLogits[best]);
      lossSum += rowLogits[best] + Math.log(exponentials) - rowLogits[label];
      if (best === label) correct++;
    }
  }
  return { loss: lossSum / count, accuracy: correct / count };
}

/**
 * The logits of two rows of `features` (at offsets `rowA` and `rowB`): logits[k] = bias[k] + the
 * sum over d of weights[k][d] x[d], each a sum in double, in the order of d. Two rows and five
 * classes go through the dimension together: ten chains of additions overlap, and each weight
 * read serves both rows (twice as fast as four classes of one row at a time, which was twice as
 * fast as one class after the other); each chain, and so each bit, is the same.
 */
function headLogits(head: LinearHead, features: Float32Array, rowA: number, rowB: number, logitsA: Float64Array, logitsB: Float64Array): void {
  const { classes, dimension, weights, bias } = head;
  let k = 0;
  for (; k + 5 <= classes; k += 5) {
    const [o0, o1, o2, o3, o4] = [k * dimension, (k + 1) * dimension, (k + 2) * dimension, (k + 3) * dimension, (k + 4) * dimension];
    let [a0, a1, a2, a3, a4] = [bias[k], bias[k + 1], bias[k + 2], bias[k + 3], bias[k + 4]];
    let [b0, b1, b2, b3, b4] = [a0, a1, a2, a3, a4];
    for (let d = 0; d < dimension; d++) {
      const x = features[rowA + d];
      const y = features[rowB + d];
      const w0 = weights[o0 + d];
      const w1 = weights[o1 + d];
      const w2 = weights[o2 + d];
      const w3 = weights[o3 + d];
      const w4 = weights[o4 + d];
      a0 += w0 * x;
      a1 += w1 * x;
      a2 += w2 * x;
      a3 += w3 * x;
      a4 += w4 * x;
      b0 += w0 * y;
      b1 += w1 * y;
      b2 += w2 * y;
      b3 += w3 * y;
      b4 += w4 * y;
    }
    logitsA[k] = a0;
    logitsA[k + 1] = a1;
    logitsA[k + 2] = a2;
    logitsA[k + 3] = a3;
    logitsA[k + 4] = a4;
    logitsB[k] = b0;
    logitsB[k + 1] = b1;
    logitsB[k + 2] = b2;
    logitsB[k + 3] = b3;
    logitsB[k + 4] = b4;
  }
  for (; k < classes; k++) {
    let [a, b] = [bias[k], bias[k]];
    for (let d = 0, offset = k * dimension; d < dimension; d++) {
      a += weights[offset + d] * features[rowA + d];
      b += weights[offset + d] * features[rowB + d];
    }
    logitsA[k] = a;
    logitsB[k] = b;
  }
}
