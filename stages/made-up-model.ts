// The auditor's stand-in for the desired model it does not know: the same fair training, on the
// auditor's own clean features, with the labels shuffled. The model has the scale and the support
// of a real SVM on these features (its weights sit where the features vary), but it carries no
// information about the classes, nor about the vendor's desired model. Perturbing images toward
// it gives the auditor examples of the ±1 signature to train a blind detector on.

import { defineStage } from '../pipeline/stage.js';
import { tableToFeatureSet } from '../data/tables.js';
import { seededUniform } from '../numerics/random.js';
import { modelToTable } from '../numerics/svm/index.js';
import { fitFairSvm, solverUsesAllCores, svmParamSchema } from './svm-params.js';

export const madeUpModelStage = defineStage({
  name: 'made-up-model',
  version: 1,
  description: "Fits the fair SVM on the auditor's clean features with shuffled labels: a desired model made up by the auditor",
  allCores: solverUsesAllCores,
  params: {
    ...svmParamSchema,
    seed: { type: 'integer', default: 1, min: 0, description: 'Seed of the label shuffle' },
  },
  inputs: {
    features: { kind: 'table', description: "The auditor's clean features" },
  },
  outputs: {
    model: { kind: 'table', description: 'SVM fit on the features with their labels shuffled' },
  },
  async run(inputs, params, context) {
    const features = tableToFeatureSet(inputs.features);
    const labels = Uint8Array.from(features.labels);
    const random = seededUniform(params.seed);
    for (let i = labels.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [labels[i], labels[j]] = [labels[j], labels[i]];
    }
    return { model: modelToTable(await fitFairSvm({ ...features, labels }, params, context, "made-up-model input 'features'")) };
  },
});
