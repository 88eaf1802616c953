// LIBLINEAR's text formats, to cross-check any result with the real tool:
//   features: libsvm format, one row per line, "label index:value ..." with 1-based indices and
//             zeros left out; the label is the class index.
//   models:   liblinear-train's model file (header, then "w" and one line per feature, the bias
//             feature's line last, one column per decision row).
// Numbers are written in the shortest form that reads back to the same double, so float32
// features and float64 weights cross the text format exactly.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { FeatureSet } from '../../data/tables.js';
import { LIBLINEAR_SOLVER, SVM_SOLVERS, decisionRows, type LinearSvmModel, type SvmSolver } from './model.js';

/** The feature set in libsvm format, as text chunks of `rowsPerChunk` lines (a whole set can exceed a string's maximum length). */
export function* writeLibsvm(set: FeatureSet, rowsPerChunk = 1000): Generator<string> {
  const d = set.dimension;
  const values = set.features;
  for (let start = 0; start < set.count; start += rowsPerChunk) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(start + rowsPerChunk, set.count); i++) {
      let line = String(set.labels[i]);
      for (let j = 0, k = i * d; j < d; j++, k++) if (values[k] !== 0) line += ` ${j + 1}:${values[k]}`;
      lines.push(line + '\n');
    }
    yield lines.join('');
  }
}

export async function writeLibsvmFile(set: FeatureSet, path: string): Promise<void> {
  const file = createWriteStream(path);
  for (const chunk of writeLibsvm(set)) {
    if (!file.write(chunk)) await once(file, 'drain');
  }
  file.end();
  await once(file, 'finish');
}

/** The model as liblinear-train writes it (labels are class indices). */
export function writeLiblinearModel(model: LinearSvmModel): string {
  const rows = model.biasWeights.length;
  const d = model.dimension;
  const hasBias = model.settings.bias >= 0;
  const lines = [
    `solver_type ${LIBLINEAR_SOLVER[model.settings.solver].name}`,
    `nr_class ${model.labels.length}`,
    `label ${model.labels.join(' ')}`,
    `nr_feature ${d}`,
    `bias ${hasBias ? model.settings.bias : -1}`,
    'w',
  ];
  for (let j = 0; j < d; j++) {
    let line = '';
    for (let r = 0; r < rows; r++) line += `${model.weights[r * d + j]} `;
    lines.push(line);
  }
  if (hasBias) lines.push(Array.from(model.biasWeights, (weight) => `${weight} `).join(''));
  return lines.join('\n') + '\n';
}

export interface ReadModelOptions {
  /** The file the text came from, named in errors (default: "LIBLINEAR model file"). */
  readonly file?: string;
  /** Class names indexed by label (default: the labels as text). */
  readonly classes?: readonly string[];
  /** Pad the weights with zeros up to this many features (liblinear-train counts only up to the last nonzero feature). */
  readonly dimension?: number;
  /** The file does not record C or eps: the values to store (default C = 1, the solver's default eps). */
  readonly C?: number;
  readonly eps?: number;
}

const HEADER_KEYS = ['solver_type', 'nr_class', 'label', 'nr_feature', 'bias', 'w'];

/** A word of the file as an error may show it: at most 24 characters, escaped, so that no other file's contents end up in a log. */
function quote(token: string | undefined): string {
  if (token === undefined) return 'the end of the file';
  return JSON.stringify(token.length > 24 ? `${token.slice(0, 24)}...` : token);
}

/** Reads a liblinear-train model file of solver type -s 1 or -s 2 (labels must be class indices 0..255). */
export function readLiblinearModel(text: string, options: ReadModelOptions = {}): LinearSvmModel {
  const tokens = text.split(/\s+/).filter((token) => token.length > 0);
  let at = 0;
  const fail = (message: string): never => {
    throw new Error(`${options.file ?? 'LIBLINEAR model file'}: ${message}`);
  };
  if (!HEADER_KEYS.includes(tokens[0] ?? '')) {
    fail(`not a liblinear-train model file: it starts with ${quote(tokens[0])}, not solver_type (train one with liblinear-train -s 1 or -s 2)`);
  }
  const nextNumber = (what: string) => {
    const token = tokens[at++];
    const value = Number(token);
    if (token === undefined || Number.isNaN(value)) fail(`expected a number for ${what}, found ${quote(token)}`);
    return value;
  };
  let solver: SvmSolver | undefined;
  let classCount = 0;
  let labels: number[] = [];
  let featureCount = -1;
  let bias = -1;
  for (;;) {
    const key = tokens[at++];
    if (key === undefined) fail("no 'w' line: the file ends in the header");
    if (key === 'w') break;
    if (key === 'solver_type') {
      const name = tokens[at++];
      solver = SVM_SOLVERS.find((candidate) => LIBLINEAR_SOLVER[candidate].name === name);
      if (!solver) fail(`solver_type ${quote(name)} is not supported (only L2R_L2LOSS_SVC_DUAL, -s 1, and L2R_L2LOSS_SVC, -s 2)`);
    } else if (key === 'nr_class') {
      classCount = nextNumber('nr_class');
      if (!Number.isInteger(classCount) || classCount < 2 || classCount > 256) fail(`nr_class ${classCount} is not a number of classes 2..256`);
    }
    else if (key === 'label') labels = Array.from({ length: classCount }, () => nextNumber('label'));
    else if (key === 'nr_feature') featureCount = nextNumber('nr_feature');
    else if (key === 'bias') bias = nextNumber('bias');
    else fail(`unknown header entry ${quote(key)}`);
  }
  if (!solver) fail('no solver_type line');
  if (classCount < 2 || labels.length !== classCount) fail(`needs nr_class >= 2 and a label line before it ends (nr_class ${classCount})`);
  for (const label of labels) if (!Number.isInteger(label) || label < 0 || label > 255) fail(`label ${label} is not a class index 0..255`);
  if (featureCount < 0) fail('no nr_feature line');
  if (!Number.isInteger(featureCount)) fail(`nr_feature ${featureCount} is not a whole number`);
  const dimension = options.dimension ?? featureCount;
  if (dimension < featureCount) fail(`has ${featureCount} features, more than the requested dimension ${dimension}`);
  const rows = decisionRows(classCount);
  // Before allocating: a damaged header must not ask for more weights than the file could hold.
  if (featureCount * rows > tokens.length) fail(`nr_feature ${featureCount} needs ${featureCount * rows} weights; the file has ${tokens.length} words in all`);
  const weights = new Float64Array(rows * dimension);
  const biasWeights = new Float64Array(rows);
  for (let j = 0; j < featureCount; j++) for (let r = 0; r < rows; r++) weights[r * dimension + j] = nextNumber(`feature ${j + 1}`);
  if (bias >= 0) for (let r = 0; r < rows; r++) biasWeights[r] = nextNumber('the bias feature');
  if (at !== tokens.length) fail(`${tokens.length - at} values after the last weight line`);
  const classes = options.classes ?? Array.from({ length: Math.max(...labels) + 1 }, (_, label) => String(label));
  return {
    dimension,
    labels,
    classes,
    weights,
    biasWeights,
    settings: { solver: solver!, C: options.C ?? 1, eps: options.eps ?? LIBLINEAR_SOLVER[solver!].defaultEps, bias },
    fits: [],
  };
}
