// A model trained by the real LIBLINEAR (liblinear-train -s 1 or -s 2), brought into the
// pipeline so that `evaluate` scores it exactly like the models fit here: the cross-check of the
// solver on any features exported with `pipeline export ... --format libsvm`.

import { defineStage } from '../pipeline/stage.js';
import { tableToFeatureSet } from '../data/tables.js';
import { modelToTable, readLiblinearModel } from '../numerics/svm/index.js';

export const importLiblinearModelStage = defineStage({
  name: 'import-liblinear-model',
  version: 2,
  description: "Reads a liblinear-train model file as a model table (labels are class indices, as `pipeline export` writes them)",
  params: {},
  inputs: {
    file: { kind: 'files', description: 'The model file written by liblinear-train' },
    features: { kind: 'table', description: 'Features of the data the model applies to (for its class names and feature count)' },
  },
  outputs: {
    model: { kind: 'table', description: 'The model, in the same layout as fit-reference-svm and refit write' },
  },
  async run(inputs) {
    if (inputs.file.kind !== 'file') throw new Error(`import-liblinear-model: ${inputs.file.origin} is a folder; bind the model file itself`);
    const features = tableToFeatureSet(inputs.features);
    const text = Buffer.from([...inputs.file.files.values()][0]!).toString('utf8');
    const model = readLiblinearModel(text, { classes: features.classes, dimension: features.dimension, file: inputs.file.origin });
    return { model: modelToTable(model) };
  },
});
