// The attack's numerics: sub-level sign steps and their schedules, the rotation targets of the
// paper's 4.2, the angle between models, and the desired head's loss and accuracy.

import { describe, expect, it } from 'vitest';
import { augmentedWeights, classAngles, headLossAndAccuracy, linearHead, planeParts, type AugmentedWeights } from '../numerics/linear-head.js';
import { signedStep, signStep, stepSizes } from '../numerics/perturbation.js';
import { rotationTargets } from '../numerics/rotation.js';
import { seededUniform } from '../numerics/random.js';
import type { LinearSvmModel } from '../numerics/svm/model.js';

/** A 3-class, 2-feature one-vs-rest model whose rows are stored in label order [2, 0, 1]. */
function model(rows: number[][], bias = 1): LinearSvmModel {
  return {
    dimension: 2,
    labels: [2, 0, 1],
    classes: ['a', 'b', 'c'],
    weights: Float64Array.from(rows.flatMap((row) => row.slice(0, 2))),
    biasWeights: Float64Array.from(rows.map((row) => row[2])),
    settings: { solver: 'dual-cd', C: 1, eps: 0.1, bias },
    fits: [],
  };
}

describe('sign steps in floating point', () => {
  it('accumulates sub-level steps and rounds them to whole levels only when asked', () => {
    const original = Uint8Array.of(100, 100, 0);
    const position = Float64Array.from(original);
    const gradient = Float32Array.of(-1, 1, 1);
    const rounded: number[][] = [];
    for (const step of stepSizes('constant', 0.25, 4)) {
      rounded.push(Array.from(signStep(position, gradient, original, { direction: 'toward', step, budget: 0 })));
    }
    // 0.25 rounds to 0, 0.5 rounds up, then 1 level; the last pixel stays clamped at 0.
    expect(rounded).toEqual([[100, 100, 0], [101, 100, 0], [101, 99, 0], [101, 99, 0]]);
    expect(Array.from(position)).toEqual([101, 99, 0]);
  });

  it('keeps a position inside the budget ball however many steps push it', () => {
    const original = Uint8Array.of(10);
    const position = Float64Array.from(original);
    for (let i = 0; i < 7; i++) signStep(position, Float32Array.of(1), original, { direction: 'away', step: 0.4, budget: 2 });
    expect(position[0]).toBe(12);
  });

  it('a whole-level step from whole levels is the uint8 step', () => {
    const pixels = Uint8Array.of(0, 10, 255, 100);
    const gradient = Float32Array.of(1, -2, -0.5, 0);
    expect(Array.from(signedStep(pixels, gradient, pixels, { direction: 'toward', step: 1, budget: 0 }))).toEqual([0, 11, 255, 100]);
  });

  it("reads the sign from the gradient's bits exactly as comparisons would, zeros, NaN, infinities and subnormals included", () => {
    /** The step written with comparisons, as the paper states it. */
    const byComparison = (position: Float64Array, gradient: Float32Array, original: Uint8Array, direction: 'toward' | 'away', step: number, budget: number) => {
      for (let i = 0; i < position.length; i++) {
        const g = gradient[i];
        const sign = g > 0 ? 1 : g < 0 ? -1 : 0;
        let value = position[i] + (direction === 'toward' ? -sign : sign) * step;
        if (budget > 0) value = Math.min(Math.max(value, original[i] - budget), original[i] + budget);
        position[i] = Math.min(Math.max(value, 0), 255);
      }
    };
    const n = 20_000;
    const uniform = seededUniform(7);
    const special = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 1e-40, -3e38];
    const original = Uint8Array.from({ length: n }, () => Math.floor(uniform() * 256));
    const gradient = Float32Array.from({ length: n }, () => (uniform() < 0.05 ? special[Math.floor(uniform() * special.length)] : uniform() - 0.5));
    for (const direction of ['toward', 'away'] as const) {
      for (const budget of [0, 1, 3]) {
        const expected = Float64Array.from(original);
        const actual = Float64Array.from(original);
        for (const step of [0.8, 0.6, 0.4, 0.2]) {
          byComparison(expected, gradient, original, direction, step, budget);
          const rounded = signStep(actual, gradient, original, { direction, step, budget });
          expect(actual).toEqual(expected);
          expect(rounded).toEqual(Uint8Array.from(expected, (value) => Math.floor(value + 0.5)));
        }
      }
    }
  });

  it('schedules: constant, or decaying linearly to step / iterations', () => {
    expect(stepSizes('constant', 0.5, 3)).toEqual([0.5, 0.5, 0.5]);
    expect(stepSizes('decay', 1, 4)).toEqual([1, 0.75, 0.5, 0.25]);
  });
});

describe('rotation targets (the paper 4.2)', () => {
  const plane = (a: number[], b: number[], constant = 0): [AugmentedWeights, AugmentedWeights] => [
    { classes: 1, length: a.length, vectors: Float64Array.from(a), constant },
    { classes: 1, length: b.length, vectors: Float64Array.from(b), constant },
  ];

  it('moves the fair direction toward the desired one: x = b gives b + delta a for orthogonal unit a, b', () => {
    const [desired, fair] = plane([1, 0, 0, 0], [0, 2, 0, 0]); // b is scaled: only directions count
    const targets = rotationTargets(Float32Array.of(0, 1, 0), 1, desired, fair, 0.1);
    expect(Array.from(targets)).toEqual([Math.fround(0.1), 1, 0]);
    // Orthogonal to the plane: unchanged.
    expect(Array.from(rotationTargets(Float32Array.of(0, 0, 5), 1, desired, fair, 0.1))).toEqual([0, 0, 5]);
  });

  it('is a first-order rotation: the move is orthogonal to the feature vector, for many classes', () => {
    const uniform = seededUniform(3);
    const random = (n: number) => Float64Array.from({ length: n }, () => 2 * uniform() - 1);
    const d = 6;
    // Without bias (constant 0) the augmented vector is [x, 0]: S skew-symmetric gives x . S x = 0.
    const desired: AugmentedWeights = { classes: 3, length: d + 1, vectors: random(3 * (d + 1)), constant: 0 };
    const fair: AugmentedWeights = { classes: 3, length: d + 1, vectors: random(3 * (d + 1)), constant: 0 };
    const x = Float32Array.from(random(d));
    const targets = rotationTargets(x, 1, desired, fair, 0.3);
    const move = Array.from(targets, (t, i) => t - x[i]);
    expect(Math.hypot(...move)).toBeGreaterThan(0.05);
    expect(Math.abs(move.reduce((sum, m, i) => sum + m * x[i], 0))).toBeLessThan(1e-6);
  });

  it('refuses models of different shapes', () => {
    const [desired] = plane([1, 0, 0], [0, 1, 0]);
    const [other] = plane([1, 0, 0, 0], [0, 1, 0, 0]);
    expect(() => rotationTargets(Float32Array.of(1, 2), 1, desired, other, 0.1)).toThrow(/differ/);
  });
});

describe('models as heads and weight vectors', () => {
  const rows = [
    [0, 1, 2], // class 2
    [1, 0, 0], // class 0
    [-1, -1, 0.5], // class 1
  ];

  it('orders the decision rows by class, with the bias weight as the intercept and as the last coordinate', () => {
    const head = linearHead(model(rows, 2));
    expect(Array.from(head.weights)).toEqual([1, 0, -1, -1, 0, 1]);
    expect(Array.from(head.bias)).toEqual([0, 1, 4]);
    const weights = augmentedWeights(model(rows, 2));
    expect(Array.from(weights.vectors)).toEqual([1, 0, 0, -1, -1, 0.5, 0, 1, 2]);
    expect(weights.constant).toBe(2);
  });

  it('measures the angle between the two models class by class', () => {
    const other = [
      [0, -1, -2], // class 2: opposite
      [0, 1, 0], // class 0: orthogonal
      [-2, -2, 1], // class 1: same direction
    ];
    const angles = classAngles(augmentedWeights(model(rows)), augmentedWeights(model(other)));
    expect(angles[0]).toBeCloseTo(90, 10);
    expect(angles[1]).toBeCloseTo(0, 5);
    expect(angles[2]).toBeCloseTo(180, 5);
  });

  it('splits weights into their part in the plane of the desired and fair weights and the rest', () => {
    const uniform = seededUniform(5);
    const length = 7;
    const weights = (vectors: number[][]): AugmentedWeights => ({ classes: vectors.length, length, vectors: Float64Array.from(vectors.flat()), constant: 1 });
    const random = () => Array.from({ length }, () => 2 * uniform() - 1);
    const [a, b, r] = [random(), random(), random()];
    // r made orthogonal to a and b (Gram-Schmidt), then w = 2a - 3b + r.
    const dot = (u: number[], v: number[]) => u.reduce((sum, value, j) => sum + value * v[j], 0);
    const bOrth = b.map((value, j) => value - (dot(b, a) / dot(a, a)) * a[j]);
    const rest = r.map((value, j) => value - (dot(r, a) / dot(a, a)) * a[j] - (dot(r, bOrth) / dot(bOrth, bOrth)) * bOrth[j]);
    const w = a.map((value, j) => 2 * value - 3 * b[j] + rest[j]);
    const { inPlane, offPlaneShare } = planeParts(weights([w]), weights([a]), weights([b]));
    inPlane.vectors.forEach((value, j) => expect(value).toBeCloseTo(2 * a[j] - 3 * b[j], 12));
    expect(offPlaneShare[0]).toBeCloseTo(Math.sqrt(dot(rest, rest) / dot(w, w)), 12);
    expect(offPlaneShare[0]).toBeGreaterThan(0.05);
    expect(() => planeParts(weights([w]), weights([a]), weights([a.map((value) => 2 * value)]))).toThrow(/parallel/);
  });

  it("gives the head's mean cross-entropy and accuracy", () => {
    const head = { classes: 2, dimension: 1, weights: Float32Array.of(0, 1), bias: Float32Array.of(0, 0) };
    // Logits [0, ln 3] and [0, 0]: softmax (1/4, 3/4) and (1/2, 1/2); the second image's tie goes to class 0.
    const { loss, accuracy } = headLossAndAccuracy(head, Float32Array.of(Math.log(3), 0), Uint8Array.of(0, 0));
    expect(loss).toBeCloseTo((Math.log(4) + Math.log(2)) / 2, 6);
    expect(accuracy).toBe(0.5);
  });

  it('sums each logit in double, bias first then in the order of the features, whatever the blocking of rows and classes', () => {
    // The straightforward form: one image, one class after the other, the loss summed image by image.
    const reference = (head: { classes: number; dimension: number; weights: Float32Array; bias: Float32Array }, features: Float32Array, labels: Uint8Array) => {
      let lossSum = 0;
      let correct = 0;
      labels.forEach((label, n) => {
        const logits = Array.from({ length: head.classes }, (_, k) => {
          let sum = head.bias[k];
          for (let d = 0; d < head.dimension; d++) sum += head.weights[k * head.dimension + d] * features[n * head.dimension + d];
          return sum;
        });
        const best = logits.indexOf(Math.max(...logits));
        lossSum += logits[best] + Math.log(logits.reduce((sum, logit) => sum + Math.exp(logit - logits[best]), 0)) - logits[label];
        if (best === label) correct++;
      });
      return { loss: lossSum / labels.length, accuracy: correct / labels.length };
    };
    const uniform = seededUniform(11);
    // 7 classes: a block of five and two alone; 13 images: six pairs and one alone.
    for (const [classes, count] of [[7, 13], [10, 12], [3, 1]]) {
      const dimension = 257;
      const head = {
        classes,
        dimension,
        weights: Float32Array.from({ length: classes * dimension }, () => 2 * uniform() - 1),
        bias: Float32Array.from({ length: classes }, () => uniform()),
      };
      const features = Float32Array.from({ length: count * dimension }, () => Math.max(0, 4 * uniform() - 1));
      const labels = Uint8Array.from({ length: count }, () => Math.floor(uniform() * classes));
      expect(headLossAndAccuracy(head, features, labels), `${classes} classes, ${count} images`).toEqual(reference(head, features, labels));
    }
  });
});
