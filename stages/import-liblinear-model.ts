// A model trained by the real LIBLINEAR (liblinear-train -s 1 or -s 2), brought into the
// pipeline so that `evaluate` scores it exactly like the models fit here: the cross-check of the
// solver on any features exported with `pipeline export ... --format libsvm`.

import { readFile } from 'node:fs/promises';
import { defineStage } from '../pipeline/stage.js';
import { tableToFeatureSet } from '../data/tables.js';
import { modelToTable, readLiblinearModel } from '../numerics/svm/index.js';

export const importLiblinearModelStage = defineStage({
  name: 'import-liblinear-model',
  version: 1,
  description: "Reads a liblinear-train model file as a model table (labels are class indices, as `pipeline export` writes them)",
  params: {
    path: { type: 'string', description: 'The model file (relative to the working directory); after changing it, rerun with --force' },
  },
  inputs: {
    features: { kind: 'table', description: 'Features of the data the model applies to (for its class names and feature count)' },
  },
  outputs: {
    model: { kind: 'table', description: 'The model, in the same layout as fit-reference-svm and refit write' },
  },
  async run(inputs, params) {
    const features = tableToFeatureSet(inputs.features);
    const text = await readFile(params.path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(`import-liblinear-model: cannot read ${params.path} (${error.code ?? error.message}): fix the 'path' param`);
    });
    const model = readLiblinearModel(text, { classes: features.classes, dimension: features.dimension });
    return { model: modelToTable(model) };
  },
});
