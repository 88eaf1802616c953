// A deterministic stand-in for CNN features: ReLU outputs of class means plus shared low-rank
// factors plus noise, so the features are nonnegative, unnormalized, correlated, partly zero, and
// the classes overlap; unlike real features, LIBLINEAR -s 2 converges tightly on them.

import type { FeatureSet } from '../../data/tables.js';
import { CIFAR10_CLASSES } from '../../data/cifar10-records.js';
import { seededUniform } from '../../numerics/random.js';

export interface SyntheticFeatureOptions {
  readonly count: number;
  readonly dimension: number;
  /** Draws the class means and factor loadings: a train and a test split share it. */
  readonly modelSeed: number;
  /** Draws the rows. */
  readonly rowSeed: number;
  /** Subtracted before the ReLU: larger means sparser (0.2: ~40 % zeros; 1.0: ~80 %). */
  readonly shift?: number;
  /** Spread of the class means relative to the noise: larger means easier classes. */
  readonly separation?: number;
  readonly classCount?: number;
}

function gaussianGenerator(seed: number): () => number {
  const uniform = seededUniform(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Rows cycle through the classes (row i has class i mod classCount). */
export function syntheticReluFeatures(options: SyntheticFeatureOptions): FeatureSet {
  const { count, dimension } = options;
  const classCount = options.classCount ?? 10;
  const shift = options.shift ?? 0.2;
  const separation = options.separation ?? 0.6;
  const factorCount = 4;
  const modelGaussian = gaussianGenerator(options.modelSeed);
  const means = Float64Array.from({ length: classCount * dimension }, () => separation * modelGaussian() - shift);
  const loadings = Float64Array.from({ length: factorCount * dimension }, () => 0.5 * modelGaussian());
  const rowGaussian = gaussianGenerator(options.rowSeed);
  const labels = new Uint8Array(count);
  const features = new Float32Array(count * dimension);
  const scores = new Float64Array(factorCount);
  for (let i = 0; i < count; i++) {
    const label = i % classCount;
    labels[i] = label;
    for (let f = 0; f < factorCount; f++) scores[f] = rowGaussian();
    for (let j = 0; j < dimension; j++) {
      let value = means[label * dimension + j] + 0.8 * rowGaussian();
      for (let f = 0; f < factorCount; f++) value += scores[f] * loadings[f * dimension + j];
      features[i * dimension + j] = Math.max(0, value);
    }
  }
  return {
    count,
    dimension,
    labels,
    features,
    classes: classCount <= 10 ? CIFAR10_CLASSES.slice(0, classCount) : Array.from({ length: classCount }, (_, k) => `class${k}`),
    description: { source: `synthetic ReLU features (model seed ${options.modelSeed}, row seed ${options.rowSeed}, shift ${shift}, separation ${separation})` },
  };
}
