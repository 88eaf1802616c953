// The fair training again, on the features of the (perturbed) training images: the model a
// victim who trusts the training set would obtain.

import { defineStage } from '../pipeline/stage.js';
import { tableToFeatureSet } from '../data/tables.js';
import { fitLinearSvm, modelToTable } from '../numerics/svm/index.js';
import { describeFit, svmParamSchema, svmParams } from './svm-params.js';

export const refitStage = defineStage({
  name: 'refit',
  // 3: primal-newton's Hessian products on the active rows and its preconditioner in float32.
  version: 3,
  description: 'Fits the fair SVM on (perturbed) training features',
  // dual-cd replays LIBLINEAR's sequential order on one core; primal-newton's products use them all.
  allCores: (params) => params.solver === 'primal-newton',
  params: svmParamSchema,
  inputs: {
    train: { kind: 'table', description: 'Training features, typically of the perturbed images' },
  },
  outputs: {
    model: { kind: 'table', description: 'SVM fit on those features' },
  },
  async run(inputs, params, context) {
    const model = await fitLinearSvm(tableToFeatureSet(inputs.train), svmParams(params), {
      threads: context.threads,
      signal: context.signal,
      what: "refit input 'train'",
      onProgress: (done, total, unit) => context.progress(done, total, unit),
    });
    context.log(describeFit(model));
    return { model: modelToTable(model) };
  },
});
