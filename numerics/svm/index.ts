// LIBLINEAR-equivalent linear SVMs: fitting, models, prediction and LIBLINEAR's text formats.
export { DEFAULT_SVM_PARAMS, MAX_ITERATIONS, fitLinearSvm, resolveSettings, type FitOptions, type SvmParams } from './fit.js';
export {
  LIBLINEAR_SOLVER,
  SVM_SOLVERS,
  accuracy,
  checkCompatible,
  decisionRows,
  decisionValues,
  modelToTable,
  predict,
  predictionsFrom,
  primalObjective,
  tableToModel,
  type LinearSvmModel,
  type RowFit,
  type SvmSettings,
  type SvmSolver,
} from './model.js';
export { readLiblinearModel, writeLiblinearModel, writeLibsvm, writeLibsvmFile, type ReadModelOptions } from './liblinear-format.js';
export { checkFinite } from './problem.js';
