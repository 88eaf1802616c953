// The solver parameters shared by the stages that fit an SVM (fit-reference-svm, refit,
// made-up-model, detect): LIBLINEAR's `train -B 1` by default, so the fair training of refit
// matches the one of the reference; and the fair training itself, as refit and made-up-model run it.

import type { ParamsOf, StageContext } from '../pipeline/stage.js';
import type { FeatureSet } from '../data/tables.js';
import { fitLinearSvm, SVM_SOLVERS, type LinearSvmModel, type SvmParams } from '../numerics/svm/index.js';

export const svmParamSchema = {
  solver: {
    type: 'enum',
    values: SVM_SOLVERS,
    default: 'dual-cd',
    description:
      "dual-cd: LIBLINEAR -s 1, replayed bit for bit (the paper's default; one core; may stop at its 1,000-pass cap on dense features); primal-newton: -s 2 (converges, faster, all cores)",
  },
  C: { type: 'number', default: 1, min: 0, description: 'Cost of a margin violation (LIBLINEAR -c)' },
  eps: { type: 'number', default: 0, min: 0, description: 'Stopping tolerance (LIBLINEAR -e); 0: the solver default, 0.1 for dual-cd, 0.01 for primal-newton' },
  bias: { type: 'number', default: 1, description: 'Value of the constant feature appended to every vector (LIBLINEAR -B); negative: none' },
} as const;

/** A stage's `allCores`: dual-cd replays LIBLINEAR's sequential order on one core; primal-newton's products use them all. */
export const solverUsesAllCores = (params: { readonly solver: string }) => params.solver === 'primal-newton';

export function svmParams(params: ParamsOf<typeof svmParamSchema>): SvmParams {
  return { solver: params.solver, C: params.C, eps: params.eps, bias: params.bias };
}

/** One log line on how the solver ended: iterations per row, and how many rows stopped before converging. */
export function describeFit(model: LinearSvmModel): string {
  const capped = model.fits.filter((fit) => !fit.converged).length;
  return (
    `${model.settings.solver}, iterations ${model.fits.map((fit) => fit.iterations).join(' ')}` +
    (capped > 0 ? ` (${capped} of ${model.fits.length} rows stopped before converging)` : '')
  );
}

/** The fair training of `set` on the stage's cores, with its progress, and how the solver ended in the log; `what` names the input in errors. */
export async function fitFairSvm(set: FeatureSet, params: ParamsOf<typeof svmParamSchema>, context: StageContext, what: string): Promise<LinearSvmModel> {
  const model = await fitLinearSvm(set, svmParams(params), {
    threads: context.threads,
    signal: context.signal,
    what,
    onProgress: (done, total, unit) => context.progress(done, total, unit),
  });
  context.log(describeFit(model));
  return model;
}
