// Fits a one-vs-rest linear SVM the way `liblinear-train -s 1|2 -c C -e eps -B bias` does.

import type { FeatureSet } from '../../data/tables.js';
import { shareRows, solveDualCdInWorker } from './dual-cd-worker.js';
import { LIBLINEAR_SOLVER, type LinearSvmModel, type RowFit, type SvmSettings, type SvmSolver } from './model.js';
import { solveInLockstep } from './primal-newton.js';
import { labelsAsFirstSeen, positiveLabels, trainingLabels } from './problem.js';

export interface SvmParams {
  readonly solver: SvmSolver;
  readonly C: number;
  /** Stopping tolerance; 0 = the solver's LIBLINEAR default (0.1 for dual-cd, 0.01 for primal-newton). */
  readonly eps: number;
  /** Constant feature appended to every vector (LIBLINEAR's -B); < 0: none. */
  readonly bias: number;
}

/** `liblinear-train -B 1` with everything else at its defaults. */
export const DEFAULT_SVM_PARAMS: SvmParams = { solver: 'dual-cd', C: 1, eps: 0, bias: 1 };

/** LIBLINEAR's caps: dual passes for -s 1, Newton steps for -s 2. */
export const MAX_ITERATIONS = 1000;

export interface FitOptions {
  /** Cores for primal-newton's products (default 2); dual-cd runs on one, in LIBLINEAR's order. */
  readonly threads?: number;
  /** Called as binary problems finish (`done` of `total` classes). */
  readonly onProgress?: (done: number, total: number, unit: string) => void;
  readonly signal?: AbortSignal;
  /** Used in error messages: which data set this is. */
  readonly what?: string;
}

export function resolveSettings(params: SvmParams): SvmSettings {
  if (!(params.C > 0)) throw new Error(`SVM parameter C must be > 0 (got ${params.C})`);
  if (!(params.eps >= 0)) throw new Error(`SVM parameter eps must be >= 0, 0 for the solver's default (got ${params.eps})`);
  const solver = LIBLINEAR_SOLVER[params.solver];
  if (!solver) throw new Error(`unknown SVM solver '${params.solver}' (expected dual-cd or primal-newton)`);
  return { solver: params.solver, C: params.C, eps: params.eps === 0 ? solver.defaultEps : params.eps, bias: params.bias };
}

/**
 * One decision row per class in ascending class index (one row only for two classes: the smaller
 * index is positive). dual-cd solves the binary problems in LIBLINEAR's order, one after the
 * other; primal-newton solves them together.
 */
export async function fitLinearSvm(set: FeatureSet, params: SvmParams, options: FitOptions = {}): Promise<LinearSvmModel> {
  const settings = resolveSettings(params);
  const labels = trainingLabels(set, options.what ?? 'training set');
  const positives = positiveLabels(labels);
  const threads = Math.max(1, options.threads ?? 2);
  const d = set.dimension;
  const report = options.onProgress ?? (() => {});

  let solutions: { weights: Float64Array; fit: RowFit }[];
  if (settings.solver === 'dual-cd') {
    const labelsShared = new Uint8Array(new SharedArrayBuffer(set.count));
    labelsShared.set(set.labels);
    const task = {
      rows: shareRows(set),
      labels: labelsShared,
      labelOrder: labelsAsFirstSeen(set.labels),
      C: settings.C,
      eps: settings.eps,
      bias: settings.bias,
      maxIterations: MAX_ITERATIONS,
    };
    const passes = new Array<number>(positives.length).fill(0);
    const results = await solveDualCdInWorker(
      task,
      (problem, iteration) => {
        passes[problem] = iteration;
        report(passes.reduce((a, b) => a + b, 0), positives.length * MAX_ITERATIONS, 'passes (at most)');
      },
      options.signal,
    );
    solutions = positives.map((positive) => {
      // With two labels LIBLINEAR's single problem takes the first seen as positive; the model's
      // row is for labels[0], whose weights are then exactly the negated ones.
      const result = results.length === 1 ? results[0] : results.find((candidate) => candidate.positive === positive)!;
      const weights = result.positive === positive ? result.weights : result.weights.map((weight) => -weight);
      return { weights, fit: { iterations: result.iterations, converged: result.iterations < MAX_ITERATIONS, objective: result.dualObjective } };
    });
  } else {
    solutions = await solvePrimalNewton(set, positives, settings, threads, report, options.signal);
    // The fit's float64 copy of X, X∘X and gathered rows (2.2 GB at 50,000 x 3,072) are array
    // buffers that V8 frees only at its next full collection, and a second fit in the same stage
    // (fit-reference-svm fits two) allocated its own beside them: that stage peaked at 3,335,752 KiB,
    // 3,074,412 with this collection. `gc` exists where Node runs with --expose-gc, as the bin does.
    (globalThis as { gc?: () => void }).gc?.();
  }

  const weights = new Float64Array(positives.length * d);
  const biasWeights = new Float64Array(positives.length);
  solutions.forEach(({ weights: solution }, row) => {
    weights.set(solution.subarray(0, d), row * d);
    if (settings.bias >= 0) biasWeights[row] = solution[d];
  });
  return {
    dimension: d,
    labels,
    classes: set.classes,
    weights,
    biasWeights,
    settings,
    fits: solutions.map((solution) => solution.fit),
  };
}

/** primal-newton's one-vs-rest problems, solved together; the matrix products' buffers are unreachable once it returns. */
async function solvePrimalNewton(
  set: FeatureSet,
  positives: readonly number[],
  settings: SvmSettings,
  threads: number,
  report: NonNullable<FitOptions['onProgress']>,
  signal: AbortSignal | undefined,
): Promise<{ weights: Float64Array; fit: RowFit }[]> {
  // Imported here, not at the top: loading onnxruntime costs every CLI command that imports the stages.
  const { matrixProducts } = await import('./matrix-products.js');
  const d = set.dimension;
  const products = await matrixProducts(set.features, set.count, d, threads, positives.length);
  try {
    const problems = positives.map((positive) => ({
      y: Int8Array.from(set.labels, (label) => (label === positive ? 1 : -1)),
      C: settings.C,
      eps: settings.eps,
      variables: settings.bias >= 0 ? d + 1 : d,
      maxIterations: MAX_ITERATIONS,
    }));
    const outcomes = await solveInLockstep(
      problems,
      products,
      { rows: set.count, dimension: d, bias: settings.bias },
      (finished) => report(finished, problems.length, 'classes'),
      signal,
    );
    return outcomes.map((outcome) => ({
      weights: outcome.weights,
      fit: { iterations: outcome.iterations, converged: outcome.converged, objective: outcome.objective },
    }));
  } finally {
    await products.release();
  }
}
