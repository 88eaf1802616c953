import { describe, expect, it } from 'vitest';
import { influenceDirections } from '../numerics/influence.js';
import { augmentedWeights, classAngles } from '../numerics/linear-head.js';
import { seededUniform } from '../numerics/random.js';
import { fitLinearSvm } from '../numerics/svm/index.js';
import type { FeatureSet } from '../data/tables.js';

// Small overlapping Gaussian classes, so that many rows sit inside the margin.
function gaussianSet(count: number, dimension: number, classes: number, seed: number): FeatureSet {
  const uniform = seededUniform(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const centres = Array.from({ length: classes * dimension }, () => normal());
  const labels = Uint8Array.from({ length: count }, (_, i) => i % classes);
  const features = Float32Array.from({ length: count * dimension }, (_, at) => centres[labels[Math.floor(at / dimension)] * dimension + (at % dimension)] + 1.5 * normal());
  return { count, dimension, labels, features, classes: Array.from({ length: classes }, (_, c) => `class ${c}`), description: {} };
}

// Tight fits: the first-order prediction is compared with the change of a refit.
const tight = { solver: 'primal-newton', C: 1, eps: 1e-9, bias: 1 } as const;
const sumOfCosines = (angles: number[]) => angles.reduce((sum, angle) => sum + Math.cos((angle * Math.PI) / 180), 0);

describe('influence directions', () => {
  it('predict, to first order, how moving one training row turns the refit toward the desired model', async () => {
    const train = gaussianSet(240, 6, 3, 1);
    const other = gaussianSet(240, 6, 3, 2);
    const fairModel = await fitLinearSvm(train, tight, { threads: 1 });
    const desiredModel = await fitLinearSvm(other, tight, { threads: 1 });
    const fair = augmentedWeights(fairModel);
    const desired = augmentedWeights(desiredModel);
    const influence = await influenceDirections(train.features, train.labels, desired, fair, { C: 1, threads: 1, tolerance: 1e-12, maxSteps: 50 });
    expect(influence.relativeResidual).toBeLessThan(1e-10);
    expect(influence.movingFraction).toBeGreaterThan(0.2);
    expect(influence.movingFraction).toBeLessThan(1);

    const before = sumOfCosines(classAngles(augmentedWeights(fairModel), desired));
    const d = train.dimension;
    let checked = 0;
    for (let i = 0; i < train.count && checked < 4; i++) {
      const v = influence.directions.subarray(i * d, (i + 1) * d);
      const norm = Math.hypot(...v);
      if (norm === 0) continue;
      checked++;
      const epsilon = 1e-3;
      const moved = Float32Array.from(train.features);
      for (let j = 0; j < d; j++) moved[i * d + j] += (epsilon * v[j]) / norm;
      const refit = await fitLinearSvm({ ...train, features: moved }, tight, { threads: 1 });
      const change = sumOfCosines(classAngles(augmentedWeights(refit), desired)) - before;
      // d/d epsilon of the sum of cosines along v / |v| is |v|.
      expect(Math.abs(change / epsilon - norm)).toBeLessThan(0.01 * norm);
    }
    expect(checked).toBe(4);
  });

  it('gives no direction to rows outside every margin', async () => {
    const train = gaussianSet(240, 6, 3, 3);
    const fairModel = await fitLinearSvm(train, tight, { threads: 1 });
    const desiredModel = await fitLinearSvm(gaussianSet(240, 6, 3, 4), tight, { threads: 1 });
    const fair = augmentedWeights(fairModel);
    const influence = await influenceDirections(train.features, train.labels, augmentedWeights(desiredModel), fair, { C: 1, threads: 1, tolerance: 1e-12, maxSteps: 50 });
    const d = train.dimension;
    for (let i = 0; i < train.count; i++) {
      const x = [...train.features.subarray(i * d, (i + 1) * d), fair.constant];
      const inside = Array.from({ length: fair.classes }, (_, c) => {
        const score = x.reduce((sum, value, j) => sum + value * fair.vectors[c * fair.length + j], 0);
        return (train.labels[i] === c ? 1 : -1) * score < 1;
      }).some(Boolean);
      const moves = influence.directions.subarray(i * d, (i + 1) * d).some((value) => value !== 0);
      expect(moves, `row ${i}`).toBe(inside);
    }
  });
});
