// Signed-gradient steps on pixels, and the statistics that show how visible they are.
//
// Within one perturbation stage the pixels move in floating point: several sub-level steps
// accumulate there and are rounded to whole levels (uint8) only for the gradient evaluations and
// the delivered images. A single step of whole levels gives exactly the rounded uint8 step.

export type Direction = 'toward' | 'away';
export const DIRECTIONS: readonly Direction[] = ['toward', 'away'];

export interface StepOptions {
  /** `toward` descends the loss (the paper's "exemples passeurs"); `away` ascends it (poisoning). */
  readonly direction: Direction;
  /** Pixel levels moved by this step (a fraction of a level is allowed). */
  readonly step: number;
  /** Largest distance from the original pixel (L-infinity ball); 0 means unbounded. */
  readonly budget: number;
}

/**
 * -1, 0 or +1: the sign of the float32 whose bits are `bits` (0 for zeros of either sign and for NaN).
 * Integer arithmetic, no comparison: the signs of a real gradient are random, and comparing them
 * mispredicts a branch for every other pixel, which cost more than half of a step (docs/speed.md).
 */
function signOfFloatBits(bits: number): number {
  const magnitude = bits & 0x7fffffff;
  const nonzeroNumber = (-magnitude >>> 31) & ((magnitude - 0x7f800001) >>> 31); // 0 < magnitude <= infinity's
  return nonzeroNumber * (1 | (bits >> 31));
}

/** The sign of each gradient value as signStep reads it: -1, 0 or +1 (0 for zeros and NaN). */
export function gradientSigns(gradient: Float32Array): Int8Array {
  const bits = new Int32Array(gradient.buffer, gradient.byteOffset, gradient.length);
  const signs = new Int8Array(gradient.length);
  for (let i = 0; i < bits.length; i++) signs[i] = signOfFloatBits(bits[i]);
  return signs;
}

/**
 * Moves each pixel position by `step` against (toward) or along (away) the sign of its loss
 * gradient, then clamps it to the budget ball around the original and to [0, 255]. In place;
 * returns the positions rounded to whole levels (halves up), as the images are delivered.
 */
export function signStep(position: Float64Array, gradient: Float32Array, original: Uint8Array, options: StepOptions): Uint8Array {
  if (gradient.length !== position.length || original.length !== position.length) {
    throw new Error(`signStep: ${position.length} pixels, ${gradient.length} gradient values, ${original.length} original pixels`);
  }
  const bits = new Int32Array(gradient.buffer, gradient.byteOffset, gradient.length);
  const rounded = new Uint8Array(position.length);
  // Two loops with the options read once: a fifth faster than one loop that tests the budget per pixel, with the same values.
  const move = (options.direction === 'toward' ? -1 : 1) * options.step;
  const budget = options.budget;
  if (budget > 0) {
    for (let i = 0; i < position.length; i++) {
      const value = position[i] + signOfFloatBits(bits[i]) * move;
      const low = original[i] - budget;
      const high = original[i] + budget;
      const inBall = value < low ? low : value > high ? high : value;
      const clamped = inBall < 0 ? 0 : inBall > 255 ? 255 : inBall;
      position[i] = clamped;
      rounded[i] = Math.floor(clamped + 0.5);
    }
  } else {
    for (let i = 0; i < position.length; i++) {
      const value = position[i] + signOfFloatBits(bits[i]) * move;
      const clamped = value < 0 ? 0 : value > 255 ? 255 : value;
      position[i] = clamped;
      rounded[i] = Math.floor(clamped + 0.5);
    }
  }
  return rounded;
}

/** One step on uint8 pixels: signStep from the pixels themselves. */
export function signedStep(pixels: Uint8Array, gradient: Float32Array, original: Uint8Array, options: StepOptions): Uint8Array {
  return signStep(new Float64Array(pixels), gradient, original, options);
}

export type Schedule = 'constant' | 'decay';
export const SCHEDULES: readonly Schedule[] = ['constant', 'decay'];

/** The step of each of `iterations` steps: `step` every time, or decaying linearly from `step` to step / iterations. */
export function stepSizes(schedule: Schedule, step: number, iterations: number): number[] {
  return Array.from({ length: iterations }, (_, t) => (schedule === 'constant' ? step : (step * (iterations - t)) / iterations));
}

export interface PerturbationStats {
  /** Mean |after - before| in pixel levels, for this step alone. */
  mean_abs_change: number;
  /** Fraction of pixel values this step changed. */
  fraction_changed: number;
  mean_abs_change_from_original: number;
  max_abs_change_from_original: number;
  fraction_changed_from_original: number;
  /** Fraction of pixel values this step brought back to their original value (the sign steps oscillate). */
  fraction_returned: number;
  /** Peak signal-to-noise ratio against the original images (peak 255); Infinity when identical. */
  psnr_db: number;
}

export function perturbationStats(before: Uint8Array, after: Uint8Array, original: Uint8Array): PerturbationStats {
  const n = after.length;
  let stepAbs = 0;
  let stepChanged = 0;
  let originalAbs = 0;
  let originalSquared = 0;
  let originalMax = 0;
  let originalChanged = 0;
  let returned = 0;
  for (let i = 0; i < n; i++) {
    const step = Math.abs(after[i] - before[i]);
    stepAbs += step;
    if (step !== 0) stepChanged++;
    const drift = Math.abs(after[i] - original[i]);
    originalAbs += drift;
    originalSquared += drift * drift;
    if (drift > originalMax) originalMax = drift;
    if (drift !== 0) originalChanged++;
    else if (before[i] !== original[i]) returned++;
  }
  const meanSquared = originalSquared / n;
  return {
    mean_abs_change: stepAbs / n,
    fraction_changed: stepChanged / n,
    mean_abs_change_from_original: originalAbs / n,
    max_abs_change_from_original: originalMax,
    fraction_changed_from_original: originalChanged / n,
    fraction_returned: returned / n,
    psnr_db: meanSquared === 0 ? Infinity : 10 * Math.log10((255 * 255) / meanSquared),
  };
}
