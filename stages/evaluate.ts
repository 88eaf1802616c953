// Accuracy of a model on the clean test features (overall and per class), its confusion
// matrix, and its accuracy on the features it was trained on. Given the desired model, also the
// angle between the two models' weight vectors, per class: how far a refit turned toward it.

import { defineStage, type Metrics } from '../pipeline/stage.js';
import { tableToFeatureSet, type FeatureSet } from '../data/tables.js';
import { checkFinite, tableToModel, type LinearSvmModel } from '../numerics/svm/index.js';
import { augmentedWeights, classAngles } from '../numerics/linear-head.js';

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
  },
  outputs: {
    metrics: {
      kind: 'metrics',
      description: 'accuracy, train_accuracy (0..1) and accuracy/<class> on the test set; given the desired model, angle_to_desired_deg/<class> and their mean angle_to_desired_deg',
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
    if (inputs.desired) {
      const angles = classAngles(augmentedWeights(model, "evaluate input 'model'"), augmentedWeights(tableToModel(inputs.desired), "evaluate input 'desired'"));
      metrics.angle_to_desired_deg = angles.reduce((a, b) => a + b, 0) / angles.length;
      test.classes.forEach((name, label) => (metrics[`angle_to_desired_deg/${name}`] = angles[label]));
    }
    return { metrics, confusion: { classes: [...test.classes], counts } };
  },
});
