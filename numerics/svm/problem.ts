// Checks on a training set, and its one-vs-rest decomposition.

import type { FeatureSet } from '../../data/tables.js';

/** Throws on the first NaN or infinite feature value, naming its row and column. */
export function checkFinite(set: FeatureSet, what: string): void {
  const values = set.features;
  for (let k = 0; k < values.length; k++) {
    if (!Number.isFinite(values[k])) {
      const row = Math.floor(k / set.dimension);
      throw new Error(
        `${what}: feature ${k % set.dimension} of row ${row} is ${values[k]}; ` +
          'an SVM needs finite features (check the featurize stage or the input file)',
      );
    }
  }
}

/**
 * The model's label order: the class indices present in the training set, ascending.
 * (LIBLINEAR orders labels by first occurrence; any order gives the same one-vs-rest models,
 * and an ascending one does not depend on the order of the rows.)
 */
export function trainingLabels(set: FeatureSet, what: string): number[] {
  if (set.count === 0) throw new Error(`${what}: the training set is empty (0 rows): nothing to fit`);
  if (set.features.length !== set.count * set.dimension) {
    throw new Error(`${what}: ${set.features.length} feature values for ${set.count} rows x ${set.dimension}`);
  }
  const present = new Uint8Array(256);
  for (let i = 0; i < set.count; i++) present[set.labels[i]] = 1;
  const labels: number[] = [];
  present.forEach((flag, label) => {
    if (flag) labels.push(label);
  });
  if (labels.length < 2) {
    const name = set.classes[labels[0]] ?? String(labels[0]);
    throw new Error(
      `${what}: every one of the ${set.count} rows has class '${name}'; a one-vs-rest SVM needs at least two classes`,
    );
  }
  for (const label of labels) {
    if (label >= set.classes.length) {
      throw new Error(`${what}: label ${label} has no class name (the set names ${set.classes.length} classes)`);
    }
  }
  checkFinite(set, what);
  return labels;
}

/** The labels in order of first appearance: LIBLINEAR's order of its binary problems. */
export function labelsAsFirstSeen(labels: Uint8Array): number[] {
  const seen = new Uint8Array(256);
  const order: number[] = [];
  for (const label of labels) {
    if (!seen[label]) {
      seen[label] = 1;
      order.push(label);
    }
  }
  return order;
}

/** The positive class of each binary problem: one per label, or only the first for two classes. */
export function positiveLabels(labels: readonly number[]): number[] {
  return labels.length === 2 ? [labels[0]] : [...labels];
}

/** Positives and negatives of one binary problem. */
export function classBalance(labels: Uint8Array, positive: number): { positives: number; negatives: number } {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === positive) positives++;
  return { positives, negatives: labels.length - positives };
}
