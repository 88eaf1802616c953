// A one-vs-rest linear SVM as LIBLINEAR stores it, its decision function, and its Arrow layout.
//
// Decision rows: one per class in `labels` order, except for two classes, where LIBLINEAR keeps a
// single row (positive = labels[0]): predict labels[0] when its value is > 0, else labels[1].
// The bias feature (value `bias`, absent when bias < 0) has its own weight per row, so the
// intercept of row r is bias * biasWeights[r].

import { arrow, type Bool, type Data, type Float64, type Int32, type Table } from '../../pipeline/arrow.js';
import { oneBatchTable, type FeatureSet } from '../../data/tables.js';

export type SvmSolver = 'dual-cd' | 'primal-newton';
export const SVM_SOLVERS: readonly SvmSolver[] = ['dual-cd', 'primal-newton'];

/** LIBLINEAR's `-s 1` and `-s 2`, its names for them, and their default stopping tolerances. */
export const LIBLINEAR_SOLVER: Record<SvmSolver, { readonly option: number; readonly name: string; readonly defaultEps: number }> = {
  'dual-cd': { option: 1, name: 'L2R_L2LOSS_SVC_DUAL', defaultEps: 0.1 },
  'primal-newton': { option: 2, name: 'L2R_L2LOSS_SVC', defaultEps: 0.01 },
};

export interface SvmSettings {
  readonly solver: SvmSolver;
  readonly C: number;
  /** The stopping tolerance actually used (the solver's default already applied). */
  readonly eps: number;
  /** Value of the constant feature appended to every vector; < 0: none. */
  readonly bias: number;
}

/** How the solver ended on one decision row. */
export interface RowFit {
  /** dual-cd: passes over the data; primal-newton: accepted Newton steps. */
  readonly iterations: number;
  /** False when the iteration cap (or a numerical safeguard) stopped the solver first. */
  readonly converged: boolean;
  /** dual-cd: the dual objective LIBLINEAR prints; primal-newton: the primal objective. */
  readonly objective: number;
}

export interface LinearSvmModel {
  readonly dimension: number;
  /** Class indices (into `classes`) in the model's order. */
  readonly labels: readonly number[];
  /** Names of all classes of the data set the model was trained on. */
  readonly classes: readonly string[];
  /** rows x dimension, row-major; rows = decisionRows(labels.length). */
  readonly weights: Float64Array;
  readonly biasWeights: Float64Array;
  readonly settings: SvmSettings;
  /** One entry per decision row; empty for a model read from a LIBLINEAR file. */
  readonly fits: readonly RowFit[];
}

export function decisionRows(classCount: number): number {
  return classCount === 2 ? 1 : classCount;
}

/** Throws unless `set` has the model's feature dimension and only finite values. */
export function checkCompatible(model: LinearSvmModel, set: FeatureSet, what = 'data'): void {
  if (set.dimension !== model.dimension) {
    throw new Error(
      `${what} has ${set.dimension} features per row but the model was trained on ${model.dimension}: ` +
        'evaluate a model only on features from the same backbone, layer and input size',
    );
  }
}

/** Decision values, count x rows row-major, in double precision. */
export function decisionValues(model: LinearSvmModel, set: FeatureSet): Float64Array {
  checkCompatible(model, set);
  const rows = model.biasWeights.length;
  const d = model.dimension;
  const bias = model.settings.bias;
  const values = new Float64Array(set.count * rows);
  const x = set.features;
  const w = model.weights;
  for (let i = 0; i < set.count; i++) {
    const offset = i * d;
    for (let r = 0; r < rows; r++) {
      const weightOffset = r * d;
      let sum = 0;
      for (let j = 0; j < d; j++) sum += x[offset + j] * w[weightOffset + j];
      if (bias >= 0) sum += bias * model.biasWeights[r];
      values[i * rows + r] = sum;
    }
  }
  return values;
}

/** Predicted class index per row, with LIBLINEAR's rule (first maximum wins; two classes: > 0). */
export function predict(model: LinearSvmModel, set: FeatureSet): Uint8Array {
  return predictionsFrom(model, decisionValues(model, set));
}

/** Predicted class index per row of decision values (count x rows, row-major), with LIBLINEAR's rule. */
export function predictionsFrom(model: LinearSvmModel, values: Float64Array): Uint8Array {
  const rows = model.biasWeights.length;
  const count = values.length / rows;
  const predictions = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    if (rows === 1) {
      predictions[i] = values[i] > 0 ? model.labels[0] : model.labels[1];
      continue;
    }
    let best = 0;
    for (let r = 1; r < rows; r++) if (values[i * rows + r] > values[i * rows + best]) best = r;
    predictions[i] = model.labels[best];
  }
  return predictions;
}

/** Fraction of rows of `set` the model classifies correctly. */
export function accuracy(model: LinearSvmModel, set: FeatureSet): number {
  const predictions = predict(model, set);
  let correct = 0;
  for (let i = 0; i < set.count; i++) if (predictions[i] === set.labels[i]) correct++;
  return correct / set.count;
}

/**
 * The primal objective of decision row `row` on `set`: 0.5 |w|^2 + C sum max(0, 1 - y w.x)^2,
 * the bias weight included in |w| as LIBLINEAR does. The row's positive class is labels[row].
 */
export function primalObjective(model: LinearSvmModel, set: FeatureSet, row: number): number {
  checkCompatible(model, set);
  const d = model.dimension;
  const values = decisionValues(model, set);
  const rows = model.biasWeights.length;
  let objective = 0;
  for (let j = 0; j < d; j++) objective += model.weights[row * d + j] ** 2;
  if (model.settings.bias >= 0) objective += model.biasWeights[row] ** 2;
  objective /= 2;
  const positive = model.labels[row];
  for (let i = 0; i < set.count; i++) {
    const y = set.labels[i] === positive ? 1 : -1;
    const loss = 1 - y * values[i * rows + row];
    if (loss > 0) objective += model.settings.C * loss * loss;
  }
  return objective;
}

// ---------------------------------------------------------------- Arrow layout

const MODEL_LAYOUT = 'one row per decision row: label (positive class index), weights (float64 x dimension), bias_weight';

export function modelToTable(model: LinearSvmModel): Table {
  const rows = model.biasWeights.length;
  const d = model.dimension;
  const { Bool, Field, FixedSizeList, Float64, Int32, Uint8, makeData } = arrow();
  const weightType = new FixedSizeList(d, new Field('weight', new Float64(), false));
  const fields = [
    new Field('label', new Uint8(), false),
    new Field('weights', weightType, false),
    new Field('bias_weight', new Float64(), false),
    new Field('iterations', new Int32(), true),
    new Field('converged', new Bool(), true),
    new Field('objective', new Float64(), true),
  ];
  const hasFits = model.fits.length === rows;
  const rowLabels = Uint8Array.from({ length: rows }, (_, r) => model.labels[r]);
  const nullable = <T extends Int32 | Bool | Float64>(type: T, values: T['TArray']) =>
    hasFits
      ? makeData({ type, length: rows, data: values, nullCount: 0 } as never)
      : makeData({ type, length: rows, nullCount: rows, nullBitmap: new Uint8Array(Math.ceil(rows / 8)), data: values } as never);
  const converged = new Uint8Array(Math.ceil(rows / 8));
  model.fits.forEach((fit, r) => {
    if (fit.converged) converged[r >> 3] |= 1 << (r & 7);
  });
  const columns = [
    makeData({ type: new Uint8(), length: rows, data: rowLabels, nullCount: 0 }),
    makeData({
      type: weightType,
      length: rows,
      nullCount: 0,
      child: makeData({ type: new Float64(), length: rows * d, data: model.weights, nullCount: 0 }),
    }),
    makeData({ type: new Float64(), length: rows, data: model.biasWeights, nullCount: 0 }),
    nullable(new Int32(), Int32Array.from(model.fits, (fit) => fit.iterations)),
    nullable(new Bool(), converged),
    nullable(new Float64(), Float64Array.from(model.fits, (fit) => fit.objective)),
  ] as Data[];
  const metadata = {
    layout: MODEL_LAYOUT,
    dimension: String(d),
    labels: JSON.stringify(model.labels),
    classes: JSON.stringify(model.classes),
    solver: model.settings.solver,
    C: String(model.settings.C),
    eps: String(model.settings.eps),
    bias: String(model.settings.bias),
  };
  return oneBatchTable(fields, columns, metadata, rows);
}

export function tableToModel(table: Table): LinearSvmModel {
  const metadata = table.schema.metadata;
  const entry = (key: string) => {
    const value = metadata.get(key);
    if (value === undefined) throw new Error(`model table: schema metadata has no '${key}' entry (is this a model table?)`);
    return value;
  };
  const dimension = Number(entry('dimension'));
  const labels = JSON.parse(entry('labels')) as number[];
  const rows = table.numRows;
  if (rows !== decisionRows(labels.length)) {
    throw new Error(`model table: ${rows} rows for ${labels.length} labels (expected ${decisionRows(labels.length)})`);
  }
  const solver = entry('solver') as SvmSolver;
  if (!SVM_SOLVERS.includes(solver)) throw new Error(`model table: unknown solver '${solver}'`);
  const weights = new Float64Array(rows * dimension);
  const biasWeights = new Float64Array(rows);
  const fits: RowFit[] = [];
  const weightColumn = table.getChild('weights')!;
  const biasColumn = table.getChild('bias_weight')!;
  const iterations = table.getChild('iterations');
  const converged = table.getChild('converged');
  const objective = table.getChild('objective');
  for (let r = 0; r < rows; r++) {
    weights.set(weightColumn.get(r)!.toArray() as Float64Array, r * dimension);
    biasWeights[r] = biasColumn.get(r) as number;
    const rowIterations = iterations?.get(r);
    if (rowIterations !== null && rowIterations !== undefined) {
      fits.push({ iterations: rowIterations, converged: Boolean(converged!.get(r)), objective: objective!.get(r) as number });
    }
  }
  return {
    dimension,
    labels,
    classes: JSON.parse(entry('classes')) as string[],
    weights,
    biasWeights,
    settings: { solver, C: Number(entry('C')), eps: Number(entry('eps')), bias: Number(entry('bias')) },
    fits,
  };
}
