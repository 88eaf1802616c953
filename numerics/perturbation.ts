// One signed-gradient step on uint8 pixels, and the statistics that show how visible it is.

export type Direction = 'toward' | 'away';
export const DIRECTIONS: readonly Direction[] = ['toward', 'away'];

export interface StepOptions {
  /** `toward` descends the desired head's loss (the paper's "exemples passeurs"); `away` ascends it (poisoning). */
  readonly direction: Direction;
  /** Pixel levels moved per step. */
  readonly step: number;
  /** Largest distance from the original pixel (L-infinity ball); 0 means unbounded. */
  readonly budget: number;
}

/**
 * Moves each pixel by `step` against (toward) or along (away) the sign of its loss gradient,
 * then clamps it to the budget ball around the original and to [0, 255].
 */
export function signedStep(
  pixels: Uint8Array,
  gradient: Float32Array,
  original: Uint8Array,
  options: StepOptions,
): Uint8Array {
  if (gradient.length !== pixels.length || original.length !== pixels.length) {
    throw new Error(`signedStep: ${pixels.length} pixels, ${gradient.length} gradient values, ${original.length} original pixels`);
  }
  const descend = options.direction === 'toward' ? -1 : 1;
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const g = gradient[i];
    let value = pixels[i] + (g > 0 ? descend : g < 0 ? -descend : 0) * options.step;
    if (options.budget > 0) {
      value = Math.min(Math.max(value, original[i] - options.budget), original[i] + options.budget);
    }
    out[i] = value < 0 ? 0 : value > 255 ? 255 : value;
  }
  return out;
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
