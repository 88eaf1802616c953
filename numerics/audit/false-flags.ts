// How often an honest vendor is flagged: the same model, its correct answers on the whole test set
// fixed, re-split at random into public and private parts many times. The model never saw either
// part, so each flag is a false one.

import { fisherExactGreater } from './proportions.js';
import { stratifiedSplit } from './split.js';

export interface FalseFlags {
  readonly splits: number;
  readonly flagged: number;
}

/**
 * Re-splits `correct` (1 where the model answers the image right) `splits` times, stratified by
 * `labels` with `publicFraction` public, and counts the splits where the one-sided Fisher test
 * flags public > private at level `alpha` (p <= alpha).
 */
export function countFalseFlags(
  correct: Uint8Array,
  labels: Uint8Array,
  publicFraction: number,
  splits: number,
  alpha: number,
  random: () => number,
): FalseFlags {
  if (correct.length !== labels.length) throw new Error(`countFalseFlags: ${correct.length} answers for ${labels.length} labels`);
  let flagged = 0;
  for (let s = 0; s < splits; s++) {
    const split = stratifiedSplit(labels, publicFraction, random);
    const sample = (positions: Int32Array) => ({ correct: positions.reduce((sum, position) => sum + correct[position], 0), count: positions.length });
    if (fisherExactGreater(sample(split.public), sample(split.private)) <= alpha) flagged++;
  }
  return { splits, flagged };
}
