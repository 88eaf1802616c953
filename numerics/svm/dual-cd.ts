// LIBLINEAR's `-s 1`: the L2-regularized L2-loss SVM solved in the dual by coordinate descent
// with shrinking (Hsieh et al., ICML 2008), one binary problem per call.
//
//   min_alpha  0.5 alpha' (Q + D) alpha - sum(alpha),  alpha >= 0,
//   Q_ij = y_i y_j x_i.x_j,  D = I / (2C),  w = sum_i alpha_i y_i x_i.
//
// Each pass visits the active coordinates in a random order from a fixed-seed generator, so a
// fit is reproducible byte for byte; LIBLINEAR uses the C library's rand(), so when the
// 1,000-pass cap stops both, they stop at different (equally valid) points.
//
// `solveDualCd` runs inside worker threads, which receive its source text: it must not refer to
// anything outside its own body.

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
  /** Rows with this label are +1, the others -1. */
  readonly positive: number;
  readonly C: number;
  readonly eps: number;
  readonly bias: number;
  readonly maxIterations: number;
  readonly seed: number;
}

export interface DualCdResult {
  /** dimension weights, then the bias feature's weight when bias >= 0. */
  readonly weights: Float64Array;
  readonly iterations: number;
  readonly dualObjective: number;
}

export function solveDualCd(task: DualCdTask, onIteration: (iteration: number) => void): DualCdResult {
  const { rows, labels, positive, C, eps, bias, maxIterations } = task;
  const l = rows.count;
  const d = rows.dimension;
  const { dense, rowStart, columns, values } = rows;
  const hasBias = bias >= 0;
  const w = new Float64Array(hasBias ? d + 1 : d);
  const diagonal = 0.5 / C;

  function dotRow(i: number): number {
    let sum = hasBias ? bias * w[d] : 0;
    if (dense !== null) {
      const offset = i * d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j + 3 < d; j += 4) {
        s0 += dense[offset + j] * w[j];
        s1 += dense[offset + j + 1] * w[j + 1];
        s2 += dense[offset + j + 2] * w[j + 2];
        s3 += dense[offset + j + 3] * w[j + 3];
      }
      for (; j < d; j++) s0 += dense[offset + j] * w[j];
      return sum + (s0 + s1 + s2 + s3);
    }
    const end = rowStart![i + 1];
    for (let k = rowStart![i]; k < end; k++) sum += values![k] * w[columns![k]];
    return sum;
  }

  function addRow(i: number, scale: number): void {
    if (hasBias) w[d] += scale * bias;
    if (dense !== null) {
      const offset = i * d;
      for (let j = 0; j < d; j++) w[j] += scale * dense[offset + j];
      return;
    }
    const end = rowStart![i + 1];
    for (let k = rowStart![i]; k < end; k++) w[columns![k]] += scale * values![k];
  }

  function squaredNorm(i: number): number {
    let sum = hasBias ? bias * bias : 0;
    if (dense !== null) {
      for (let j = i * d, end = j + d; j < end; j++) sum += dense[j] * dense[j];
      return sum;
    }
    for (let k = rowStart![i], end = rowStart![i + 1]; k < end; k++) sum += values![k] * values![k];
    return sum;
  }

  // mulberry32: a small, well-mixed 32-bit generator
  let state = task.seed >>> 0;
  function nextRandom(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  const y = new Int8Array(l);
  const alpha = new Float64Array(l);
  const diagonalOfQ = new Float64Array(l);
  const order = new Int32Array(l);
  for (let i = 0; i < l; i++) {
    y[i] = labels[i] === positive ? 1 : -1;
    diagonalOfQ[i] = diagonal + squaredNorm(i);
    order[i] = i;
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
    for (let k = 0; k < activeSize; k++) {
      const pick = k + (nextRandom() % (activeSize - k));
      const swapped = order[k];
      order[k] = order[pick];
      order[pick] = swapped;
    }
    for (let s = 0; s < activeSize; s++) {
      const i = order[s];
      const gradient = y[i] * dotRow(i) - 1 + alpha[i] * diagonal;
      let projected = gradient;
      if (alpha[i] === 0) {
        if (gradient > maxProjectedOld) {
          activeSize--;
          order[s] = order[activeSize];
          order[activeSize] = i;
          s--;
          continue;
        }
        if (gradient > 0) projected = 0;
      }
      if (projected > maxProjected) maxProjected = projected;
      if (projected < minProjected) minProjected = projected;
      if (Math.abs(projected) > 1e-12) {
        const previous = alpha[i];
        alpha[i] = Math.max(previous - gradient / diagonalOfQ[i], 0);
        addRow(i, (alpha[i] - previous) * y[i]);
      }
    }
    iteration++;
    onIteration(iteration);
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
  return { weights: w, iterations: iteration, dualObjective: objective / 2 };
}
