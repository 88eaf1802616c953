// Accuracy of a model on the clean test features (overall and per class), its confusion
// matrix, and its accuracy on the features it was trained on. Given the desired model, also the
// angle between the two models' weight vectors, per class: how far a refit turned toward it.
// Given the fair model as well, the part of each class's weights in the plane of its desired and
// fair weights: the test accuracy of that part alone, and the share of the weights outside it
// (what a perturbation taught the refit besides turning it toward the desired model).

import { defineStage, type Metrics } from '../pipeline/stage.js';
import { tableToFeatureSet, type FeatureSet } from '../data/tables.js';
import { checkFinite, tableToModel, type LinearSvmModel } from '../numerics/svm/index.js';
import { augmentedWeights, classAngles, planeParts, type AugmentedWeights } from '../numerics/linear-head.js';

/** Throws, naming the input, unless `set` fits the model and holds only finite values. */
function checkInput(model: LinearSvmModel, set: FeatureSet, input: string): void {
  if (set.dimension !== model.dimension) {
    throw new Error(
      `evaluate: input '${input}' has ${set.dimension} features per row but the model has ${model.dimension}: ` +
        'bind model and features produced with the same backbone, feature_layer and input_size',
    );
  }
  checkFinite(set, `evaluate input '${input}'`);
}

/** The model with each class's weights (and bias weight) replaced by `weights`' row of that class. */
function withWeights(model: LinearSvmModel, weights: AugmentedWeights): LinearSvmModel {
  const d = model.dimension;
  const replaced = new Float64Array(model.weights.length);
  const biasWeights = new Float64Array(model.biasWeights.length);
  model.labels.forEach((classIndex, row) => {
    replaced.set(weights.vectors.subarray(classIndex * weights.length, classIndex * weights.length + d), row * d);
    biasWeights[row] = weights.vectors[classIndex * weights.length + d];
  });
  return { ...model, weights: replaced, biasWeights };
}

export const evaluateStage = defineStage({
  name: 'evaluate',
  // 2: decision values by onnxruntime (predictions may differ from version 1's only at ties to ~1e-15).
  version: 2,
  description: 'Test accuracy (overall, per class), confusion matrix and training accuracy of a model',
  params: {},
  inputs: {
    model: { kind: 'table', description: 'A model from fit-reference-svm or refit' },
    test: { kind: 'table', description: 'Clean test features' },
    train: { kind: 'table', description: 'The features the model was trained on' },
    desired: { kind: 'table', optional: true, description: 'The desired model, to measure the angle to it' },
    fair: { kind: 'table', optional: true, description: 'The fair model (with desired): to split the weights into their part in the plane of the desired and fair weights and the rest' },
  },
  outputs: {
    metrics: {
      kind: 'metrics',
      description:
        'accuracy, train_accuracy (0..1) and accuracy/<class> on the test set; given the desired model, angle_to_desired_deg/<class> and their mean angle_to_desired_deg; ' +
        'given the fair model too, in_plane_accuracy (test accuracy of the weights projected on the plane of the desired and fair weights) and off_plane_share (mean |rest| / |weights|)',
    },
    confusion: { kind: 'json', description: 'Test confusion matrix: counts[true class][predicted class]' },
  },
  async run(inputs, _params, context) {
    const model = tableToModel(inputs.model);
    const test = tableToFeatureSet(inputs.test);
    const train = tableToFeatureSet(inputs.train);
    const classCount = test.classes.length;
    if (test.count === 0) throw new Error("evaluate: input 'test' has no rows: nothing to evaluate");
    if (model.classes.join('\n') !== test.classes.join('\n')) {
      throw new Error(
        `evaluate: the model's classes (${model.classes.join(', ')}) differ from input 'test''s (${test.classes.join(', ')}): ` +
          'bind features of the same data set the model was trained on',
      );
    }
    checkInput(model, test, 'test');
    // Imported here, not at the top: loading onnxruntime costs every CLI command that imports the stages.
    const { accuracyInBlocks, predictInBlocks } = await import('../numerics/svm/fast-predict.js');
    const testPredictions = await predictInBlocks(model, test, context.threads);
    const counts = Array.from({ length: classCount }, () => new Array<number>(classCount).fill(0));
    let correct = 0;
    for (let i = 0; i < test.count; i++) {
      counts[test.labels[i]][testPredictions[i]]++;
      if (testPredictions[i] === test.labels[i]) correct++;
    }
    checkInput(model, train, 'train');

    const metrics: Metrics = { accuracy: correct / test.count, train_accuracy: await accuracyInBlocks(model, train, context.threads) };
    test.classes.forEach((name, label) => {
      const total = counts[label].reduce((a, b) => a + b, 0);
      if (total > 0) metrics[`accuracy/${name}`] = counts[label][label] / total;
    });
    if (inputs.fair && !inputs.desired) throw new Error("evaluate: input 'fair' needs input 'desired' (the plane is theirs)");
    if (inputs.desired) {
      const weights = augmentedWeights(model, "evaluate input 'model'");
      const desired = augmentedWeights(tableToModel(inputs.desired), "evaluate input 'desired'");
      const angles = classAngles(weights, desired);
      metrics.angle_to_desired_deg = angles.reduce((a, b) => a + b, 0) / angles.length;
      test.classes.forEach((name, label) => (metrics[`angle_to_desired_deg/${name}`] = angles[label]));
      if (inputs.fair) {
        const { inPlane, offPlaneShare } = planeParts(weights, desired, augmentedWeights(tableToModel(inputs.fair), "evaluate input 'fair'"));
        const predictions = await predictInBlocks(withWeights(model, inPlane), test, context.threads);
        metrics.in_plane_accuracy = predictions.reduce((sum, predicted, i) => sum + (predicted === test.labels[i] ? 1 : 0), 0) / test.count;
        metrics.off_plane_share = offPlaneShare.reduce((a, b) => a + b, 0) / offPlaneShare.length;
      }
    }
    return { metrics, confusion: { classes: [...test.classes], counts } };
  },
});
