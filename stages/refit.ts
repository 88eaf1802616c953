// The fair training again, on the features of the (perturbed) training images: the model a
// victim who trusts the training set would obtain.

import { defineStage } from '../pipeline/stage.js';
import { tableToFeatureSet } from '../data/tables.js';
import { modelToTable } from '../numerics/svm/index.js';
import { fitFairSvm, solverUsesAllCores, svmParamSchema } from './svm-params.js';

export const refitStage = defineStage({
  name: 'refit',
  // 3: primal-newton's Hessian products on the active rows and its preconditioner in float32.
  version: 3,
  description: 'Fits the fair SVM on (perturbed) training features',
  allCores: solverUsesAllCores,
  params: svmParamSchema,
  inputs: {
    train: { kind: 'table', description: 'Training features, typically of the perturbed images' },
  },
  outputs: {
    model: { kind: 'table', description: 'SVM fit on those features' },
  },
  async run(inputs, params, context) {
    return { model: modelToTable(await fitFairSvm(tableToFeatureSet(inputs.train), params, context, "refit input 'train'")) };
  },
});
