// The influence method: which way to move each training feature vector so that the refit (the
// SVM optimum on the moved features) turns toward the desired model, to first order.
//
// The refit w*(X) solves grad_w F(w, X) = 0 for LIBLINEAR's -s 2 objective
// F = |w|^2 / 2 + C sum_i max(0, 1 - y_i w.x_i)^2. Moving x_i by dx_i moves it by
// dw = -H^-1 M_i dx_i (implicit function theorem), with H the generalized Hessian of F and
// M_i = d(grad_w loss_i) / dx_i = -2C y_i ((1 - y_i w.x_i) I - y_i x_i w'), zero for rows with
// margin >= 1. The quantity raised is sum_k cos(w_k, a_k): every class's weights turned toward the
// desired a_k, at the fair optimum w = b. Its gradient in x_i is
//   v_i = sum_k [y_ik b_k.x_i < 1] 2C y_ik ((1 - y_ik b_k.x_i) z_k - y_ik (x_i.z_k) b_k),
// z_k = H_k^-1 g_k, g_k = (a^_k - (a^_k.b^_k) b^_k) / |b_k| the gradient of the cosine (hats: unit
// vectors). Vectors carry the bias weight, features the constant -B appends; v_i drops that
// coordinate (an image cannot move it). Rows whose margin is at least 1 in every class get v_i = 0:
// to first order, moving them does not move the refit.

import type { AugmentedWeights } from './linear-head.js';
import { runInLockstep, solveHessianSystem, type Solver } from './svm/primal-newton.js';

export interface InfluenceOptions {
  /** LIBLINEAR's C of the fair fit. */
  readonly C: number;
  readonly threads: number;
  /** Conjugate gradient stops at this relative residual of H z = g ... */
  readonly tolerance: number;
  /** ... or after this many steps. */
  readonly maxSteps: number;
  readonly signal?: AbortSignal;
  /** Called after each round of conjugate-gradient steps (one product for every class still solving). */
  readonly onRound?: (round: number) => void;
}

export interface InfluenceDirections {
  /** count x d: v_i, the first-order gradient of sum_k cos(refit_k, desired_k) in x_i. */
  readonly directions: Float32Array;
  /** Fraction of the rows with v_i != 0 (a margin below 1 in some class). */
  readonly movingFraction: number;
  /** The largest relative residual of the ten solves, and their step counts. */
  readonly relativeResidual: number;
  readonly conjugateGradientSteps: number[];
}

function* scores(vector: Float64Array): Solver<Float64Array> {
  return yield { kind: 'times', vector };
}

const row = (weights: AugmentedWeights, c: number) => weights.vectors.subarray(c * weights.length, (c + 1) * weights.length);
const dot = (a: Float64Array, b: Float64Array) => a.reduce((sum, value, j) => sum + value * b[j], 0);

/** g_k: the gradient at b_k of cos(w, a_k), i.e. the unit a_k's part orthogonal to b_k, over |b_k|. */
function cosineGradient(desired: Float64Array, fair: Float64Array): Float64Array {
  const fairNorm = Math.sqrt(dot(fair, fair));
  const desiredNorm = Math.sqrt(dot(desired, desired));
  if (fairNorm === 0 || desiredNorm === 0) throw new Error('influence: a class has all-zero weights');
  const cosine = dot(desired, fair) / (desiredNorm * fairNorm);
  return desired.map((value, j) => (value / desiredNorm - (cosine * fair[j]) / fairNorm) / fairNorm);
}

/**
 * v_i for every row of `features` (count x d, the clean training features), labels the class
 * indices of the rows (class c is row c of the weights), fair the model fit on those features.
 */
export async function influenceDirections(
  features: Float32Array,
  labels: Uint8Array,
  desired: AugmentedWeights,
  fair: AugmentedWeights,
  options: InfluenceOptions,
): Promise<InfluenceDirections> {
  if (desired.classes !== fair.classes || desired.length !== fair.length || desired.constant !== fair.constant) {
    throw new Error('influence: the desired and fair models differ in classes, features or bias');
  }
  const count = labels.length;
  const d = fair.length - 1;
  if (features.length !== count * d) throw new Error(`influence: ${features.length} feature values for ${count} rows of ${d}`);
  const classes = fair.classes;
  const ys = Array.from({ length: classes }, (_, c) => Int8Array.from(labels, (label) => (label === c ? 1 : -1)));
  const { matrixProducts } = await import('./svm/matrix-products.js');
  // Up to two columns per class: the scores of the fair rows and of z, in one product.
  const products = await matrixProducts(features, count, d, options.threads, 2 * classes);
  const shape = { rows: count, dimension: d, bias: fair.constant };
  try {
    const solves = await runInLockstep(
      ys.map((y, c) =>
        solveHessianSystem({ y, C: options.C, w: row(fair, c), right: cosineGradient(row(desired, c), row(fair, c)), tolerance: options.tolerance, maxSteps: options.maxSteps }),
      ),
      products,
      shape,
      (() => {
        let round = 0;
        return () => options.onRound?.(++round);
      })(),
      options.signal,
    );
    const z = solves.map((solve) => solve.solution);
    // b.x and z.x of every row, in one product.
    const rowScores = await runInLockstep(
      [...Array.from({ length: classes }, (_, c) => row(fair, c)), ...z].map((vector) => scores(vector)),
      products,
      shape,
      () => {},
    );
    const fairScores = rowScores.slice(0, classes);
    const zScores = rowScores.slice(classes);
    const directions = new Float32Array(count * d);
    let moving = 0;
    const v = new Float64Array(d);
    for (let i = 0; i < count; i++) {
      v.fill(0);
      let any = false;
      for (let c = 0; c < classes; c++) {
        const y = ys[c][i];
        const margin = y * fairScores[c][i];
        if (margin >= 1) continue;
        any = true;
        const onZ = 2 * options.C * y * (1 - margin);
        const onB = -2 * options.C * zScores[c][i];
        const zc = z[c];
        const bc = row(fair, c);
        for (let j = 0; j < d; j++) v[j] += onZ * zc[j] + onB * bc[j];
      }
      if (any) moving++;
      directions.set(v, i * d);
    }
    return {
      directions,
      movingFraction: moving / count,
      relativeResidual: Math.max(...solves.map((solve) => solve.relativeResidual)),
      conjugateGradientSteps: solves.map((solve) => solve.steps),
    };
  } finally {
    await products.release();
  }
}
