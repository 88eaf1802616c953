// LIBLINEAR's `-s 1`: the L2-regularized L2-loss SVM solved in the dual by coordinate descent
// with shrinking (Hsieh et al., ICML 2008), replayed operation for operation from LIBLINEAR 2.3's
// train() and solve_l2r_l1l2_svc():
//
//   min_alpha  0.5 alpha' (Q + D) alpha - sum(alpha),  alpha >= 0,
//   Q_ij = y_i y_j x_i.x_j,  D = I / (2C),  w = sum_i alpha_i y_i x_i.
//
// Where the solver stops (at its tolerance, or at the 1,000-pass cap it often hits on dense CNN
// features) depends on the order in which it visits the coordinates. LIBLINEAR draws that order
// from the C library's rand(), one stream running through all the binary problems in turn, over
// the rows grouped by label in order of first appearance. Replaying all of it (the grouping, the
// problem order, glibc's rand() from seed 1, and every sum in LIBLINEAR's order, the bias feature
// last) gives LIBLINEAR's weights to the last bit, on features that are float32 as ours are.
// The price: the binary problems run one after the other, as in LIBLINEAR.
//
// `solveDualCd` runs inside a worker thread, which receives its source text and glibcRandom's:
// it must not refer to anything else outside its own body.

import type { glibcRandom as GlibcRandom } from './glibc-random.js';

// Declared, not imported: the worker defines it from its source text next to this function's (a
// module import would be renamed by the test runner's transform, and the text would not match).
declare const glibcRandom: typeof GlibcRandom;

/** Training rows in shared memory, dense or compressed by row (CSR). */
export interface SharedRows {
  readonly count: number;
  readonly dimension: number;
  /** count x dimension, row-major; null when the rows are compressed. */
  readonly dense: Float32Array | null;
  /** CSR: row i holds entries rowStart[i] .. rowStart[i+1]-1 of columns and values. */
  readonly rowStart: Int32Array | null;
  readonly columns: Uint16Array | Int32Array | null;
  readonly values: Float32Array | null;
}

export interface DualCdTask {
  readonly rows: SharedRows;
  readonly labels: Uint8Array;
  /** Labels in order of first appearance in `labels`: LIBLINEAR's order of the binary problems. */
  readonly labelOrder: readonly number[];
  readonly C: number;
  readonly eps: number;
  readonly bias: number;
  readonly maxIterations: number;
}

export interface DualCdResult {
  /** Rows with this label were +1, the others -1. */
  readonly positive: number;
  /** dimension weights, then the bias feature's weight when bias >= 0. */
  readonly weights: Float64Array;
  readonly iterations: number;
  readonly dualObjective: number;
}

/**
 * Solves the binary problems in LIBLINEAR's order: one per label in `labelOrder`, or only the
 * first for two labels. `onIteration(problem, pass)` reports each finished pass.
 */
export function solveDualCd(task: DualCdTask, onIteration: (problem: number, iteration: number) => void): DualCdResult[] {
  const { rows, labels, labelOrder, C, eps, bias, maxIterations } = task;
  const l = rows.count;
  const d = rows.dimension;
  const { dense, rowStart, columns, values } = rows;
  const hasBias = bias >= 0;
  const diagonal = 0.5 / C;
  const random = glibcRandom(1);

  // Sums run in LIBLINEAR's order: the features by index, the bias feature last. A dense row adds
  // zero products where LIBLINEAR skips the entry, which leaves every sum unchanged.
  const starts = rowStart ?? new Int32Array(0);
  const indices = columns ?? new Int32Array(0);
  const entries = values ?? new Float32Array(0);
  const matrix = dense ?? new Float32Array(0);
  const compressed = dense === null;

  function dotRow(w: Float64Array, row: number): number {
    let sum = 0;
    if (compressed) {
      for (let k = starts[row], end = starts[row + 1]; k < end; k++) sum += w[indices[k]] * entries[k];
    } else {
      for (let j = 0, k = row * d; j < d; j++, k++) sum += w[j] * matrix[k];
    }
    return hasBias ? sum + w[d] * bias : sum;
  }

  function addRow(w: Float64Array, row: number, scale: number): void {
    if (compressed) {
      for (let k = starts[row], end = starts[row + 1]; k < end; k++) w[indices[k]] += scale * entries[k];
    } else {
      for (let j = 0, k = row * d; j < d; j++, k++) w[j] += scale * matrix[k];
    }
    if (hasBias) w[d] += scale * bias;
  }

  function squaredNorm(row: number): number {
    let sum = 0;
    if (compressed) {
      for (let k = starts[row], end = starts[row + 1]; k < end; k++) sum += entries[k] * entries[k];
    } else {
      for (let k = row * d, end = k + d; k < end; k++) sum += matrix[k] * matrix[k];
    }
    return hasBias ? sum + bias * bias : sum;
  }

  // The rows grouped by label in order of first appearance, each group in row order.
  const grouped = new Int32Array(l);
  let at = 0;
  for (const label of labelOrder) for (let row = 0; row < l; row++) if (labels[row] === label) grouped[at++] = row;

  const diagonalOfQ = new Float64Array(l);
  for (let i = 0; i < l; i++) diagonalOfQ[i] = diagonal + squaredNorm(grouped[i]);

  function solveBinary(problem: number, positive: number): DualCdResult {
    const w = new Float64Array(hasBias ? d + 1 : d);
    const y = new Int8Array(l);
    const alpha = new Float64Array(l);
    const index = new Int32Array(l);
    for (let i = 0; i < l; i++) {
      y[i] = labels[grouped[i]] === positive ? 1 : -1;
      index[i] = i;
    }

    // Shrinking: a coordinate at alpha = 0 whose gradient exceeds the previous pass's largest
    // projected gradient leaves the active set until the active set converges. (The L2 loss puts
    // no upper bound on alpha, so LIBLINEAR's other shrinking rule never applies.)
    let activeSize = l;
    let maxProjectedOld = Infinity;
    let iteration = 0;
    while (iteration < maxIterations) {
      let maxProjected = -Infinity;
      let minProjected = Infinity;
      for (let s = 0; s < activeSize; s++) {
        const pick = s + (random() % (activeSize - s));
        const swapped = index[s];
        index[s] = index[pick];
        index[pick] = swapped;
      }
      for (let s = 0; s < activeSize; s++) {
        const i = index[s];
        const gradient = y[i] * dotRow(w, grouped[i]) - 1 + alpha[i] * diagonal;
        let projected = 0;
        if (alpha[i] === 0) {
          if (gradient > maxProjectedOld) {
            activeSize--;
            index[s] = index[activeSize];
            index[activeSize] = i;
            s--;
            continue;
          }
          if (gradient < 0) projected = gradient;
        } else {
          projected = gradient;
        }
        if (projected > maxProjected) maxProjected = projected;
        if (projected < minProjected) minProjected = projected;
        if (Math.abs(projected) > 1e-12) {
          const previous = alpha[i];
          alpha[i] = Math.max(previous - gradient / diagonalOfQ[i], 0);
          addRow(w, grouped[i], (alpha[i] - previous) * y[i]);
        }
      }
      iteration++;
      onIteration(problem, iteration);
      if (maxProjected - minProjected <= eps) {
        if (activeSize === l) break;
        activeSize = l;
        maxProjectedOld = Infinity;
        continue;
      }
      maxProjectedOld = maxProjected <= 0 ? Infinity : maxProjected;
    }

    let objective = 0;
    for (let j = 0; j < w.length; j++) objective += w[j] * w[j];
    for (let i = 0; i < l; i++) objective += alpha[i] * (alpha[i] * diagonal - 2);
    return { positive, weights: w, iterations: iteration, dualObjective: objective / 2 };
  }

  const positives = labelOrder.length === 2 ? [labelOrder[0]] : labelOrder;
  return positives.map((positive, problem) => solveBinary(problem, positive));
}
