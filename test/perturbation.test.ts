import { describe, expect, it } from 'vitest';
import { perturbationStats, signedStep, signStep } from '../numerics/perturbation.js';

describe('signStep rounding', () => {
  it('returns the positions rounded to whole levels, halves up', () => {
    const position = new Float64Array([0, 0.49, 0.5, 1.5, 2.5, 127.2, 254.5, 255]);
    const unmoved = new Float32Array(position.length); // a zero gradient moves nothing
    expect(Array.from(signStep(position, unmoved, new Uint8Array(position), { direction: 'toward', step: 1, budget: 0 }))).toEqual([0, 0, 1, 2, 3, 127, 255, 255]);
  });
});

describe('signedStep', () => {
  const pixels = new Uint8Array([0, 10, 255, 100, 100, 50]);
  const gradient = new Float32Array([1, -2, -0.5, 0, 3, -1]);

  it('toward descends the loss: moves against the gradient sign and clamps to 0..255', () => {
    const out = signedStep(pixels, gradient, pixels, { direction: 'toward', step: 1, budget: 0 });
    expect(Array.from(out)).toEqual([0, 11, 255, 100, 99, 51]);
  });

  it('away ascends the loss: the exact opposite moves', () => {
    const out = signedStep(pixels, gradient, pixels, { direction: 'away', step: 2, budget: 0 });
    expect(Array.from(out)).toEqual([2, 8, 253, 100, 102, 48]);
  });

  it('keeps every pixel inside the budget ball around the original', () => {
    const original = new Uint8Array([5, 10, 250, 100, 101, 50]);
    const out = signedStep(pixels, gradient, original, { direction: 'toward', step: 3, budget: 1 });
    expect(Array.from(out)).toEqual([4, 11, 251, 100, 100, 51]);
  });

  it('refuses mismatched lengths', () => {
    expect(() => signedStep(pixels, new Float32Array(2), pixels, { direction: 'toward', step: 1, budget: 0 })).toThrow(/6 pixels, 2 gradient/);
  });
});

describe('perturbationStats', () => {
  it('measures the step, the drift from the original and the pixels that came back', () => {
    const original = new Uint8Array([10, 10, 10, 10]);
    const before = new Uint8Array([11, 10, 9, 10]);
    const after = new Uint8Array([10, 11, 8, 10]);
    const stats = perturbationStats(before, after, original);
    expect(stats.mean_abs_change).toBe(3 / 4);
    expect(stats.fraction_changed).toBe(3 / 4);
    expect(stats.max_abs_change_from_original).toBe(2);
    expect(stats.mean_abs_change_from_original).toBe(3 / 4);
    expect(stats.fraction_changed_from_original).toBe(2 / 4);
    expect(stats.fraction_returned).toBe(1 / 4);
    expect(stats.psnr_db).toBeCloseTo(10 * Math.log10((255 * 255) / (5 / 4)), 10);
  });
});
