// The auditor's statistics against an independent reference: scipy 1.17.1 (Python), computed once
// and written here with the call that produced each value.
//
//   fisher_exact([[a, n-a], [c, m-c]], alternative='greater').pvalue   the one-sided p-value
//   binomtest(x, n).proportion_ci(0.95, 'wilson')                      the Wilson intervals that
//       Newcombe's hybrid score interval combines: d - hypot(p1-l1, u2-p2), d + hypot(u1-p1, p2-l2)
//   binomtest(k, n).proportion_ci(0.95, 'exact')                       Clopper-Pearson
//   norm.ppf(p)                                                        the normal quantile
//   power: every outcome (x1, x2) enumerated, hypergeom.sf(x1-1, n1+n2, x1+x2, n1) <= alpha
//       summed with binom.pmf(x1, n1, p1) * binom.pmf(x2, n2, p2)  (brute force, no shared code)

import { describe, expect, it } from 'vitest';
import {
  clopperPearsonInterval,
  fisherExactGreater,
  fisherPower,
  newcombeInterval,
  normalQuantile,
  privateSizeNeeded,
} from '../numerics/audit/proportions.js';
import { countFalseFlags, exactFalseFlagRate } from '../numerics/audit/false-flags.js';
import { seededUniform } from '../numerics/random.js';

const sample = (correct: number, count: number) => ({ correct, count });

describe("Fisher's exact test, one-sided, and Newcombe's interval", () => {
  // [public correct, public count, private correct, private count, p, interval low, interval high] from scipy.
  const cases: [number, number, number, number, number, number, number][] = [
    [8, 10, 3, 10, 0.03488925934746368, 0.06647631448630487, 0.7397586340406175],
    [4360, 5000, 3900, 5000, 2.3301216109560803e-34, 0.07723397708408775, 0.10674200041055633],
    [3750, 5000, 3762, 5000, 0.6181781548096734, -0.019343496446030277, 0.014545223045360264],
    [45, 50, 30, 40, 0.0535823687607395, -0.006835347303495304, 0.31211303314543726],
    [1, 1, 0, 1, 0.5, -0.12210872068194178, 1.0],
    [0, 3, 3, 3, 1.0, -1.0, -0.20592328245977842],
  ];
  it.each(cases)('%i/%i public against %i/%i private', (a, n, c, m, p, low, high) => {
    expect(fisherExactGreater(sample(a, n), sample(c, m))).toBeCloseTo(p, 12);
    expect(fisherExactGreater(sample(a, n), sample(c, m)) / p).toBeCloseTo(1, 10);
    const [lower, upper] = newcombeInterval(sample(a, n), sample(c, m), 0.95);
    expect(lower).toBeCloseTo(low, 12);
    expect(upper).toBeCloseTo(high, 12);
  });

  it('refuses counts that are not a sample', () => {
    expect(() => fisherExactGreater(sample(11, 10), sample(3, 10))).toThrow(/public sample: 11 correct of 10/);
    expect(() => fisherExactGreater(sample(1, 10), sample(0, 0))).toThrow(/private sample/);
  });
});

describe('normal quantile, Clopper-Pearson', () => {
  it.each([
    [0.975, 1.959963984540054],
    [0.5, 0],
    [0.999, 3.090232306167813],
    [1e-10, -6.361340902404056],
    [0.3, -0.5244005127080409],
    [0.95, 1.6448536269514722],
  ])('norm.ppf(%f)', (p, z) => {
    expect(normalQuantile(p)).toBeCloseTo(z, 13);
  });

  it.each([
    [3, 100, 0.006229971538306227, 0.08517605297428028],
    [0, 100, 0, 0.03621669264519054],
    [5, 100, 0.016431879181728278, 0.11283491110546288],
  ])('%i of %i', (k, n, low, high) => {
    const [lower, upper] = clopperPearsonInterval(sample(k, n), 0.95);
    expect(lower).toBeCloseTo(low, 10);
    expect(upper).toBeCloseTo(high, 10);
  });
});

describe('exact power and the private sample size', () => {
  it.each([
    [50, 0.9, 40, 0.7, 0.6732608965852576],
    [30, 0.8, 25, 0.6, 0.37095260481342496],
    [200, 0.85, 80, 0.7, 0.8364855703857764],
    [60, 0.85, 36, 0.6, 0.8059366359518765],
    [60, 0.85, 35, 0.6, 0.7984992531007562],
  ])('n1 = %i, p1 = %f, n2 = %i, p2 = %f', (n1, p1, n2, p2, power) => {
    expect(fisherPower(n1, p1, n2, p2, 0.05)).toBeCloseTo(power, 10);
  });

  it('finds a size whose power reaches the target where one image fewer does not (brute-force powers above)', () => {
    // power(36) = 0.80594 >= 0.8 > power(35) = 0.79850, both from the enumeration.
    expect(privateSizeNeeded(60, 0.6, 0.25, 0.05, 0.8, 1000)).toEqual({ privateCount: 36, power: expect.closeTo(0.8059366359518765, 10) });
  });

  it('says when the public sample alone is too noisy for any private sample', () => {
    // With 500 public images at 75 %, the public accuracy's own spread (1.9 points) hides a 1-point inflation.
    const needed = privateSizeNeeded(500, 0.75, 0.01, 0.05, 0.8, 100000);
    expect(needed.privateCount).toBeNull();
    expect(needed.power).toBeLessThan(0.2);
  });

  it('agrees with the normal-approximation sample size at CIFAR scale, at or a little above it (the exact test is conservative)', () => {
    // Unpooled normal approximation solved for n2 with n1 = 5000, p1 = 0.78, p2 = 0.75:
    // (z(0.95) + z(0.8))^2 (p1 q1 / n1 + p2 q2 / n2) = 0.03^2  ->  n2 = 1,685.4 (scipy norm.ppf).
    const needed = privateSizeNeeded(5000, 0.75, 0.03, 0.05, 0.8, 100000);
    expect(needed.privateCount).toBeGreaterThanOrEqual(1685);
    expect(needed.privateCount).toBeLessThan(1685 * 1.05);
  });
});

describe('false flags of an honest vendor', () => {
  it('stays within the nominal level on random re-splits of a fixed answer vector, without being vacuous', () => {
    const random = seededUniform(7);
    const labels = Uint8Array.from({ length: 2000 }, (_, i) => i % 10);
    const correct = Uint8Array.from(labels, (label) => (random() < 0.5 + label * 0.04 ? 1 : 0));
    const flags = countFalseFlags(correct, labels, 0.5, 1000, 0.05, seededUniform(8));
    expect(flags.splits).toBe(1000);
    expect(flags.flagged / flags.splits).toBeLessThanOrEqual(0.05);
    expect(flags.flagged).toBeGreaterThan(10);
  });

  /** Labels and answers with `correct[k]` right answers among `counts[k]` images of class k. */
  const answers = (correct: number[], counts: number[]) => {
    const labels = Uint8Array.from(counts.flatMap((count, k) => Array<number>(count).fill(k)));
    const right = Uint8Array.from(counts.flatMap((count, k) => Array.from({ length: count }, (_, i) => (i < correct[k] ? 1 : 0))));
    return { labels, right };
  };

  it('computes the exact rate over stratified splits as scipy does', () => {
    // Reference: scipy 1.17.1, the convolution of scipy.stats.hypergeom(m, c, floor(m * f + 0.5)).pmf over
    // the classes, summed where hypergeom(N, T, n).sf(x - 1) <= alpha.
    const { labels, right } = answers([3, 5, 10, 20], [7, 11, 30, 41]);
    expect(exactFalseFlagRate(right, labels, 0.5, 0.05)).toBeCloseTo(0.051902763954392514, 13);
    expect(exactFalseFlagRate(right, labels, 0.3, 0.1)).toBeCloseTo(0.0549960851812519, 13);
    // The full CIFAR-10 fair model's answers per class (docs/results): 0.04191605516991809 in scipy.
    const full = answers([803, 839, 619, 556, 733, 636, 815, 799, 858, 824], Array<number>(10).fill(1000));
    expect(exactFalseFlagRate(full.right, full.labels, 0.5, 0.05)).toBeCloseTo(0.04191605516991809, 12);
  });

  it('agrees with the count over random re-splits', () => {
    const { labels, right } = answers([80, 150, 60, 190], [200, 200, 200, 200]);
    const exact = exactFalseFlagRate(right, labels, 0.5, 0.05);
    const splits = 3000;
    const flags = countFalseFlags(right, labels, 0.5, splits, 0.05, seededUniform(11));
    const sd = Math.sqrt((exact * (1 - exact)) / splits);
    expect(exact).toBeGreaterThan(0.02);
    expect(Math.abs(flags.flagged / splits - exact)).toBeLessThan(4 * sd);
  });
});
