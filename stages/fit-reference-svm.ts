// The two reference models of the method: the fair model, trained on the training features as
// anyone would, and the desired model, trained on the test features (the cheater knows the
// public test set). The perturbation steps push the training images toward the desired model.

import { defineStage, type Metrics } from '../pipeline/stage.js';
import { tableToFeatureSet, type FeatureSet } from '../data/tables.js';
import { fitLinearSvm, modelToTable, type LinearSvmModel } from '../numerics/svm/index.js';
import { describeFit, solverUsesAllCores, svmParams, svmParamSchema } from './svm-params.js';

function convergence(name: string, model: LinearSvmModel): Metrics {
  return {
    [`${name}/converged_rows`]: model.fits.filter((fit) => fit.converged).length,
    [`${name}/rows`]: model.fits.length,
    [`${name}/max_iterations`]: Math.max(...model.fits.map((fit) => fit.iterations)),
  };
}

export const fitReferenceSvmStage = defineStage({
  name: 'fit-reference-svm',
  // 3: primal-newton's Hessian products on the active rows, its preconditioner in float32, and
  // accuracies by onnxruntime: the same predictions as -s 2 where it converges, another stopping point on raw features.
  version: 3,
  description: 'Fits the fair SVM on the training features and the desired SVM on the test features',
  allCores: solverUsesAllCores,
  params: svmParamSchema,
  inputs: {
    train: { kind: 'table', description: 'Training features (featurize output)' },
    test: { kind: 'table', description: 'Test features (featurize output)' },
  },
  outputs: {
    fair: { kind: 'table', description: 'SVM fit on the training features' },
    desired: { kind: 'table', description: 'SVM fit on the test features: the model the cheater steers toward' },
    metrics: { kind: 'metrics', description: 'Train and test accuracy of both models, and how their solvers ended' },
  },
  async run(inputs, params, context) {
    const train = tableToFeatureSet(inputs.train);
    const test = tableToFeatureSet(inputs.test);
    // One progress bar over both fits: the fair model's rows, then the desired model's.
    const fit = (set: FeatureSet, name: 'fair' | 'desired') =>
      fitLinearSvm(set, svmParams(params), {
        threads: context.threads,
        signal: context.signal,
        what: `fit-reference-svm input '${name === 'fair' ? 'train' : 'test'}'`,
        onProgress: (done, total, unit) => context.progress(name === 'fair' ? done : total + done, 2 * total, unit),
      });
    const fair = await fit(train, 'fair');
    context.log(`fair: ${describeFit(fair)}`);
    const desired = await fit(test, 'desired');
    context.log(`desired: ${describeFit(desired)}`);
    // Imported here, not at the top: loading onnxruntime costs every CLI command that imports the stages.
    const { accuracyInBlocks } = await import('../numerics/svm/fast-predict.js');
    return {
      fair: modelToTable(fair),
      desired: modelToTable(desired),
      metrics: {
        'fair/train_accuracy': await accuracyInBlocks(fair, train, context.threads),
        'fair/test_accuracy': await accuracyInBlocks(fair, test, context.threads),
        'desired/train_accuracy': await accuracyInBlocks(desired, train, context.threads),
        'desired/test_accuracy': await accuracyInBlocks(desired, test, context.threads),
        ...convergence('fair', fair),
        ...convergence('desired', desired),
      },
    };
  },
});
