// LIBLINEAR's `-s 2`: the L2-regularized L2-loss SVM solved in the primal by a trust-region
// Newton method with preconditioned conjugate gradient (Lin, Weng & Keerthi 2008; Hsia et al. 2018),
//
//   min_w  f(w) = 0.5 |w|^2 + C sum_i max(0, 1 - y_i w.x_i)^2,
//
// with LIBLINEAR 2.3's rules: stop when |grad f(w)| <= eps * max(min(#pos, #neg), 1) / n * |grad f(0)|,
// at most 1,000 Newton steps, CG to relative residual 0.1, diagonal preconditioner mixed 1 % with
// the identity.
//
// Every binary problem is a generator that yields the matrix products it needs; the driver runs
// the one-vs-rest problems in lockstep and serves each round's requests as one matrix product
// per kind (X V with up to one column per class), which is where the time goes. Every product is
// in double except the diagonal preconditioner's, in float32 (see matrix-products.ts).

import type { MatrixProducts } from './matrix-products.js';

/** In the order the driver serves them within a round: each may follow from the one before. */
const PRODUCT_KINDS = ['times', 'transposeTimes', 'squaredTransposeTimes', 'hessianTimes'] as const;
type ProductKind = (typeof PRODUCT_KINDS)[number];

/**
 * times: X v for v of length d (+1 with the bias feature);
 * transposeTimes: X' u and squaredTransposeTimes: (X o X)' u for u of length n;
 * hessianTimes: X' diag(rowWeights) X v.
 */
interface ProductRequest {
  readonly kind: ProductKind;
  readonly vector: Float64Array;
  readonly rowWeights?: Float64Array;
}

export interface NewtonProblem {
  /** +1 / -1 per training row. */
  readonly y: Int8Array;
  readonly C: number;
  readonly eps: number;
  /** d, plus one for the bias feature. */
  readonly variables: number;
  readonly maxIterations: number;
}

export interface NewtonOutcome {
  readonly weights: Float64Array;
  /** Accepted Newton steps. */
  readonly iterations: number;
  readonly conjugateGradientSteps: number;
  readonly converged: boolean;
  readonly objective: number;
}

export type Solver<T> = Generator<ProductRequest, T, Float64Array>;

const dot = (a: Float64Array, b: Float64Array) => {
  let sum = 0;
  for (let j = 0; j < a.length; j++) sum += a[j] * b[j];
  return sum;
};
/** u' diag(m) v */
const scaledDot = (u: Float64Array, m: Float64Array, v: Float64Array) => {
  let sum = 0;
  for (let j = 0; j < u.length; j++) sum += u[j] * m[j] * v[j];
  return sum;
};
/** y += a x */
const addScaled = (y: Float64Array, a: number, x: Float64Array) => {
  for (let j = 0; j < y.length; j++) y[j] += a * x[j];
};

/** LIBLINEAR's preconditioner of the generalized Hessian I + 2 X' diag(activeWeight) X: its diagonal, mixed 1 % with the identity. */
function* diagonalPreconditioner(activeWeight: Float64Array): Solver<Float64Array> {
  const diagonal = yield { kind: 'squaredTransposeTimes', vector: activeWeight };
  const identityShare = 0.01;
  for (let j = 0; j < diagonal.length; j++) diagonal[j] = 1 - identityShare + identityShare * (1 + 2 * diagonal[j]);
  return diagonal;
}

/** (I + 2 X' diag(activeWeight) X) v */
function* hessianProduct(v: Float64Array, activeWeight: Float64Array): Solver<Float64Array> {
  const product = yield { kind: 'hessianTimes', vector: v, rowWeights: activeWeight };
  for (let j = 0; j < v.length; j++) product[j] = v[j] + 2 * product[j];
  return product;
}

export interface HessianSystem {
  /** +1 / -1 per training row. */
  readonly y: Int8Array;
  readonly C: number;
  /** The point whose generalized Hessian is solved with (d weights, plus the bias weight). */
  readonly w: Float64Array;
  readonly right: Float64Array;
  /** Stop when |residual| <= tolerance |right| ... */
  readonly tolerance: number;
  /** ... or after this many conjugate-gradient steps. */
  readonly maxSteps: number;
}

/**
 * Solves H z = right for the generalized Hessian H = I + 2 X' D X of f at w (D = C on the rows with
 * y_i w.x_i < 1), by conjugate gradient with LIBLINEAR's diagonal preconditioner.
 */
export function* solveHessianSystem(system: HessianSystem): Solver<{ solution: Float64Array; steps: number; relativeResidual: number }> {
  const { y, C, w, right } = system;
  const margins = yield { kind: 'times', vector: w };
  const activeWeight = Float64Array.from(margins, (margin, i) => (y[i] * margin < 1 ? C : 0));
  const M = yield* diagonalPreconditioner(activeWeight);
  const solution = new Float64Array(right.length);
  const residual = Float64Array.from(right);
  const rightNorm = Math.sqrt(dot(right, right));
  let z = Float64Array.from(residual, (r, j) => r / M[j]);
  const direction = Float64Array.from(z);
  let zr = dot(z, residual);
  let steps = 0;
  while (steps < system.maxSteps && Math.sqrt(dot(residual, residual)) > system.tolerance * rightNorm) {
    steps++;
    const hd = yield* hessianProduct(direction, activeWeight);
    const alpha = zr / dot(direction, hd);
    addScaled(solution, alpha, direction);
    addScaled(residual, -alpha, hd);
    z = Float64Array.from(residual, (r, j) => r / M[j]);
    const zrNext = dot(z, residual);
    for (let j = 0; j < direction.length; j++) direction[j] = (zrNext / zr) * direction[j] + z[j];
    zr = zrNext;
  }
  return { solution, steps, relativeResidual: Math.sqrt(dot(residual, residual)) / rightNorm };
}

export function* trustRegionNewton(problem: NewtonProblem): Solver<NewtonOutcome> {
  const { y, C, variables: nv } = problem;
  const n = y.length;
  let positives = 0;
  for (let i = 0; i < n; i++) if (y[i] > 0) positives++;
  const tolerance = (problem.eps * Math.max(Math.min(positives, n - positives), 1)) / n;

  // C on the rows with a positive loss at the current iterate, 0 elsewhere: the generalized
  // Hessian is I + 2 X' diag(activeWeight) X.
  const activeWeight = new Float64Array(n);

  function* objective(w: Float64Array): Solver<{ value: number; margins: Float64Array }> {
    const margins = yield { kind: 'times', vector: w };
    let value = dot(w, w) / 2;
    for (let i = 0; i < n; i++) {
      margins[i] *= y[i];
      const slack = 1 - margins[i];
      if (slack > 0) value += C * slack * slack;
    }
    return { value, margins };
  }

  function* gradientAt(w: Float64Array, margins: Float64Array): Solver<Float64Array> {
    const lossDerivative = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const active = margins[i] < 1;
      activeWeight[i] = active ? C : 0;
      if (active) lossDerivative[i] = C * y[i] * (margins[i] - 1);
    }
    const gradient = yield { kind: 'transposeTimes', vector: lossDerivative };
    for (let j = 0; j < nv; j++) gradient[j] = w[j] + 2 * gradient[j];
    return gradient;
  }

  const preconditioner = () => diagonalPreconditioner(activeWeight);
  const hessianTimes = (v: Float64Array) => hessianProduct(v, activeWeight);

  /** Approximately minimizes g's + s'Hs/2 over |s|_M <= radius; returns the step and the residual -(g + Hs). */
  function* conjugateGradient(radius: number, gradient: Float64Array, M: Float64Array) {
    const step = new Float64Array(nv);
    const residual = Float64Array.from(gradient, (g) => -g);
    let z = Float64Array.from(residual, (r, j) => r / M[j]);
    const direction = Float64Array.from(z);
    let zr = dot(z, residual);
    const stopAt = 0.1 * Math.sqrt(zr);
    const maxSteps = Math.max(nv, 5);
    let steps = 0;
    let reachedBoundary = false;
    while (steps < maxSteps && Math.sqrt(zr) > stopAt) {
      steps++;
      const hd = yield* hessianTimes(direction);
      let alpha = zr / dot(direction, hd);
      addScaled(step, alpha, direction);
      if (Math.sqrt(scaledDot(step, M, step)) > radius) {
        // Back up, then move along the direction to the boundary of the trust region.
        reachedBoundary = true;
        addScaled(step, -alpha, direction);
        const sMd = scaledDot(step, M, direction);
        const sMs = scaledDot(step, M, step);
        const dMd = scaledDot(direction, M, direction);
        const radius2 = radius * radius;
        const root = Math.sqrt(sMd * sMd + dMd * (radius2 - sMs));
        alpha = sMd >= 0 ? (radius2 - sMs) / (sMd + root) : (root - sMd) / dMd;
        addScaled(step, alpha, direction);
        addScaled(residual, -alpha, hd);
        break;
      }
      addScaled(residual, -alpha, hd);
      z = Float64Array.from(residual, (r, j) => r / M[j]);
      const zrNext = dot(z, residual);
      const beta = zrNext / zr;
      for (let j = 0; j < nv; j++) direction[j] = beta * direction[j] + z[j];
      zr = zrNext;
    }
    return { step, residual, steps, reachedBoundary };
  }

  const eta0 = 1e-4;
  const eta1 = 0.25;
  const eta2 = 0.75;
  const sigma1 = 0.25;
  const sigma2 = 0.5;
  const sigma3 = 4;

  let w = new Float64Array(nv);
  let current = yield* objective(w);
  let gradient = yield* gradientAt(w, current.margins);
  let gradientNorm = Math.sqrt(dot(gradient, gradient));
  // w starts at 0, so this is also |grad f(0)|, the scale of the stopping rule.
  const initialGradientNorm = gradientNorm;
  let converged = gradientNorm <= tolerance * initialGradientNorm;
  let M = yield* preconditioner();
  let radius = Math.sqrt(scaledDot(gradient, M, gradient));
  let iteration = 1;
  let radiusAdjusted = false;
  let conjugateGradientSteps = 0;
  while (iteration <= problem.maxIterations && !converged) {
    const { step, residual, steps, reachedBoundary } = yield* conjugateGradient(radius, gradient, M);
    conjugateGradientSteps += steps;
    const candidate = Float64Array.from(w);
    addScaled(candidate, 1, step);
    const gs = dot(gradient, step);
    const predicted = -0.5 * (gs - dot(step, residual));
    const next = yield* objective(candidate);
    const actual = current.value - next.value;

    const stepNorm = Math.sqrt(scaledDot(step, M, step));
    if (iteration === 1 && !radiusAdjusted) {
      radius = Math.min(radius, stepNorm);
      radiusAdjusted = true;
    }
    const curvatureGap = next.value - current.value - gs;
    const stepScale = curvatureGap <= 0 ? sigma3 : Math.max(sigma1, -0.5 * (gs / curvatureGap));
    if (actual < eta0 * predicted) radius = Math.min(stepScale * stepNorm, sigma2 * radius);
    else if (actual < eta1 * predicted) radius = Math.max(sigma1 * radius, Math.min(stepScale * stepNorm, sigma2 * radius));
    else if (actual < eta2 * predicted) radius = Math.max(sigma1 * radius, Math.min(stepScale * stepNorm, sigma3 * radius));
    else if (reachedBoundary) radius = sigma3 * radius;
    else radius = Math.max(radius, Math.min(stepScale * stepNorm, sigma3 * radius));

    if (actual > eta0 * predicted) {
      iteration++;
      w = candidate;
      current = next;
      gradient = yield* gradientAt(w, current.margins);
      M = yield* preconditioner();
      gradientNorm = Math.sqrt(dot(gradient, gradient));
      if (gradientNorm <= tolerance * initialGradientNorm) {
        converged = true;
        break;
      }
    }
    // LIBLINEAR's numerical safeguards: each ends the solve without convergence.
    if (current.value < -1e32 || predicted <= 0) break;
    if (Math.abs(actual) <= 1e-12 * Math.abs(current.value) && Math.abs(predicted) <= 1e-12 * Math.abs(current.value)) break;
  }
  return { weights: w, iterations: iteration - 1, conjugateGradientSteps, converged, objective: current.value };
}

/** Solves the one-vs-rest Newton problems together (runInLockstep). */
export function solveInLockstep(
  problems: readonly NewtonProblem[],
  products: MatrixProducts,
  shape: MatrixShape,
  onRound: (finished: number) => void,
  signal?: AbortSignal,
): Promise<NewtonOutcome[]> {
  return runInLockstep(
    problems.map((problem) => trustRegionNewton(problem)),
    products,
    shape,
    onRound,
    signal,
  );
}

export interface MatrixShape {
  readonly rows: number;
  readonly dimension: number;
  /** < 0: no bias feature; otherwise the last variable multiplies a constant feature `bias`. */
  readonly bias: number;
}

/** Runs solvers (one per class) in lockstep, serving each round's requests with one product per kind. */
export async function runInLockstep<T>(
  solvers: Solver<T>[],
  products: MatrixProducts,
  shape: MatrixShape,
  onRound: (finished: number) => void,
  signal?: AbortSignal,
): Promise<T[]> {
  const { rows: n, dimension: d, bias } = shape;
  const outcomes: (T | undefined)[] = solvers.map(() => undefined);
  const pending = new Map<number, ProductRequest>();
  const advance = (index: number, answer?: Float64Array) => {
    const state = answer === undefined ? solvers[index].next() : solvers[index].next(answer);
    if (state.done) outcomes[index] = state.value;
    else pending.set(index, state.value);
  };
  solvers.forEach((_, index) => advance(index));

  while (pending.size > 0) {
    if (signal?.aborted) throw new Error('SVM fit cancelled');
    // A problem answered in this round may ask for a later kind at once (a candidate's objective,
    // then its gradient, its preconditioner and the first conjugate-gradient step).
    for (const kind of PRODUCT_KINDS) {
      const batch = [...pending.entries()].filter(([, request]) => request.kind === kind);
      if (batch.length === 0) continue;
      for (const [index] of batch) pending.delete(index);
      const answers = await serve(kind, batch.map(([, request]) => request));
      batch.forEach(([index], column) => advance(index, answers[column]));
    }
    onRound(outcomes.filter((outcome) => outcome !== undefined).length);
  }
  return outcomes as T[];

  async function serve(kind: ProductKind, requests: ProductRequest[]): Promise<Float64Array[]> {
    const k = requests.length;
    const vectors = requests.map((request) => request.vector);
    if (kind === 'times' || kind === 'hessianTimes') {
      const right = new Float64Array(d * k);
      for (let c = 0; c < k; c++) {
        const vector = vectors[c];
        for (let j = 0; j < d; j++) right[j * k + c] = vector[j];
      }
      const intercepts = Float64Array.from(vectors, (vector) => (bias >= 0 ? bias * vector[d] : 0));
      if (kind === 'hessianTimes') {
        const rowWeights = new Float64Array(n * k);
        requests.forEach(({ rowWeights: weights }, c) => {
          for (let i = 0, at = c; i < n; i++, at += k) rowWeights[at] = weights![i];
        });
        const { product, columnSums } = await products.hessianTimes(right, intercepts, rowWeights, k);
        return vectors.map((_, c) => transposedColumn(product, c, k, bias >= 0 ? bias * columnSums[c] : undefined));
      }
      const product = await products.times(right, k);
      return Array.from(intercepts, (intercept, c) => {
        const column = new Float64Array(n);
        for (let i = 0, at = c; i < n; i++, at += k) column[i] = product[at] + intercept;
        return column;
      });
    }
    const right = new (kind === 'transposeTimes' ? Float64Array : Float32Array)(n * k);
    for (let c = 0; c < k; c++) {
      const vector = vectors[c];
      for (let i = 0, at = c; i < n; i++, at += k) right[at] = vector[i];
    }
    const product = kind === 'transposeTimes' ? await products.transposeTimes(right as Float64Array, k) : await products.squaredTransposeTimes(right as Float32Array, k);
    const biasFactor = kind === 'transposeTimes' ? bias : bias * bias;
    return vectors.map((vector, c) => transposedColumn(product, c, k, bias >= 0 ? biasFactor * vector.reduce((a, b) => a + b, 0) : undefined));
  }

  /** Column c of a d x k product, with the bias variable's entry appended when there is one. */
  function transposedColumn(product: Float64Array | Float32Array, c: number, k: number, biasValue: number | undefined): Float64Array {
    const column = new Float64Array(biasValue === undefined ? d : d + 1);
    for (let j = 0, at = c; j < d; j++, at += k) column[j] = product[at];
    if (biasValue !== undefined) column[d] = biasValue;
    return column;
  }
}
