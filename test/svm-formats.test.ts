// LIBLINEAR text formats and the model table: exact round trips. That a model file written by the
// real liblinear-train predicts, once read, exactly like liblinear-predict is checked in svm-parity.

import { describe, expect, test } from 'vitest';
import {
  fitLinearSvm,
  modelToTable,
  predict,
  readLiblinearModel,
  tableToModel,
  writeLiblinearModel,
  writeLibsvm,
} from '../numerics/svm/index.js';
import { syntheticReluFeatures } from './support/synthetic-features.js';
import { arrow } from '../pipeline/arrow.js';

const { tableFromIPC, tableToIPC } = arrow();

const small = syntheticReluFeatures({ count: 600, dimension: 24, modelSeed: 3, rowSeed: 4 });

describe('libsvm features', () => {
  test('every float32 value reads back exactly, zeros are left out', () => {
    const text = [...writeLibsvm(small, 128)].join('');
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(small.count);
    const back = new Float32Array(small.count * small.dimension);
    lines.forEach((line, i) => {
      const [label, ...entries] = line.split(' ');
      expect(Number(label)).toBe(small.labels[i]);
      for (const entry of entries) {
        const [index, value] = entry.split(':');
        expect(Number(value)).not.toBe(0);
        back[i * small.dimension + Number(index) - 1] = Number(value);
      }
    });
    expect(back).toEqual(small.features);
  });
});

describe('liblinear model files', () => {
  test('write then read gives the same weights, labels and bias', async () => {
    for (const classCount of [10, 2]) {
      const set = syntheticReluFeatures({ count: 400, dimension: 16, modelSeed: 5, rowSeed: 6, classCount });
      const model = await fitLinearSvm(set, { solver: 'primal-newton', C: 1, eps: 0, bias: 1 });
      const back = readLiblinearModel(writeLiblinearModel(model), { classes: set.classes });
      expect(back.weights).toEqual(model.weights);
      expect(back.biasWeights).toEqual(model.biasWeights);
      expect(back.labels).toEqual(model.labels);
      expect(back.settings.bias).toBe(1);
      expect(predict(back, set)).toEqual(predict(model, set));
    }
  });

  test('clear errors on files it cannot read', () => {
    expect(() => readLiblinearModel('solver_type L2R_LR\nnr_class 2\nlabel 0 1\nnr_feature 1\nbias -1\nw\n0.5\n')).toThrow(/not supported/);
    expect(() => readLiblinearModel('solver_type L2R_L2LOSS_SVC\nnr_class 2\nlabel 0 1\nnr_feature 2\nbias -1\nw\n0.5\n')).toThrow(/expected a number/);
  });
});

describe('model table', () => {
  test('Arrow IPC round trip keeps weights, settings and fits', async () => {
    const model = await fitLinearSvm(small, { solver: 'dual-cd', C: 0.5, eps: 0, bias: 1 });
    const back = tableToModel(tableFromIPC(tableToIPC(modelToTable(model), 'file')));
    expect(back).toEqual(model);
  });
});
