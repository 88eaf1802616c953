// A blind steganalysis detector: a linear SVM on standardized feature vectors (SPAM here) that
// separates clean images from perturbed ones. Its score is the SVM's decision value toward
// "perturbed".

import type { FeatureSet } from '../../data/tables.js';
import { decisionValues, fitLinearSvm, type FitOptions, type LinearSvmModel, type SvmParams } from '../svm/index.js';

const CLEAN = 0;
const PERTURBED = 1;

export interface Detector {
  readonly model: LinearSvmModel;
  /** Per feature, the training mean and the scale (standard deviation, 1 where it is 0) it is divided by. */
  readonly mean: Float64Array;
  readonly scale: Float64Array;
}

function featureSet(rows: Float32Array, labels: Uint8Array, dimension: number): FeatureSet {
  return { count: labels.length, dimension, labels, features: rows, classes: ['clean', 'perturbed'], description: {} };
}

function standardize(features: Float32Array, dimension: number, mean: Float64Array, scale: Float64Array): Float32Array {
  const out = new Float32Array(features.length);
  for (let i = 0; i < features.length; i++) {
    const j = i % dimension;
    out[i] = (features[i] - mean[j]) / scale[j];
  }
  return out;
}

/** Fits the detector on `clean` and `perturbed` feature rows (row-major, `dimension` per row). */
export async function trainDetector(
  clean: Float32Array,
  perturbed: Float32Array,
  dimension: number,
  params: SvmParams,
  options: FitOptions = {},
): Promise<Detector> {
  const rows = new Float32Array(clean.length + perturbed.length);
  rows.set(clean);
  rows.set(perturbed, clean.length);
  const count = rows.length / dimension;
  const mean = new Float64Array(dimension);
  const squares = new Float64Array(dimension);
  for (let i = 0; i < rows.length; i++) mean[i % dimension] += rows[i];
  for (let j = 0; j < dimension; j++) mean[j] /= count;
  for (let i = 0; i < rows.length; i++) squares[i % dimension] += (rows[i] - mean[i % dimension]) ** 2;
  const scale = squares.map((sum) => Math.sqrt(sum / count) || 1);
  const labels = new Uint8Array(count).fill(PERTURBED, clean.length / dimension);
  labels.fill(CLEAN, 0, clean.length / dimension);
  const model = await fitLinearSvm(featureSet(standardize(rows, dimension, mean, scale), labels, dimension), params, options);
  return { model, mean, scale };
}

/** One score per row of `features`: higher means more likely perturbed. */
export function detectorScores(detector: Detector, features: Float32Array): Float64Array {
  const { model, mean, scale } = detector;
  const count = features.length / model.dimension;
  const values = decisionValues(model, featureSet(standardize(features, model.dimension, mean, scale), new Uint8Array(count), model.dimension));
  // Two classes: one decision row, positive for labels[0].
  const sign = model.labels[0] === PERTURBED ? 1 : -1;
  return values.map((value) => sign * value);
}
