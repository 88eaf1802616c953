// How often an honest vendor is flagged: the same model, its correct answers on the whole test set
// fixed, re-split at random into public and private parts. The model never saw either part, so
// each flag is a false one. Two ways to the same number: counting flags over random re-splits, and
// the exact probability over all stratified splits.

import { fisherExactGreater, hypergeometricDistribution } from './proportions.js';
import { publicCountOf, stratifiedSplit } from './split.js';

export interface FalseFlags {
  readonly splits: number;
  readonly flagged: number;
}

function checkAnswers(correct: Uint8Array, labels: Uint8Array, what: string): void {
  if (correct.length !== labels.length) throw new Error(`${what}: ${correct.length} answers for ${labels.length} labels`);
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
  checkAnswers(correct, labels, 'countFalseFlags');
  let flagged = 0;
  for (let s = 0; s < splits; s++) {
    const split = stratifiedSplit(labels, publicFraction, random);
    const sample = (positions: Int32Array) => ({ correct: positions.reduce((sum, position) => sum + correct[position], 0), count: positions.length });
    if (fisherExactGreater(sample(split.public), sample(split.private)) <= alpha) flagged++;
  }
  return { splits, flagged };
}

/**
 * The probability that one uniformly random stratified split (as stratifiedSplit draws it) gets
 * the honest vendor flagged: what countFalseFlags estimates, without sampling error.
 *
 * Within a class the public correct count is hypergeometric; the public total is their sum (a
 * convolution). Fisher's test conditions on the margins and assumes one unstratified draw, whose
 * public count is more spread out than the stratified one, so this rate is at most alpha.
 */
export function exactFalseFlagRate(correct: Uint8Array, labels: Uint8Array, publicFraction: number, alpha: number): number {
  checkAnswers(correct, labels, 'exactFalseFlagRate');
  const classes = new Map<number, { count: number; correct: number }>();
  labels.forEach((label, position) => {
    const members = classes.get(label) ?? { count: 0, correct: 0 };
    members.count++;
    members.correct += correct[position];
    classes.set(label, members);
  });
  let publicCorrect = Float64Array.of(1);
  let publicCount = 0;
  let totalCorrect = 0;
  for (const members of classes.values()) {
    const drawn = publicCountOf(members.count, publicFraction);
    const { start, probabilities } = hypergeometricDistribution(drawn, members.count - drawn, members.correct);
    const sum = new Float64Array(publicCorrect.length + start + probabilities.length - 1);
    for (let x = 0; x < publicCorrect.length; x++) {
      for (let y = 0; y < probabilities.length; y++) sum[x + start + y] += publicCorrect[x] * probabilities[y];
    }
    publicCorrect = sum;
    publicCount += drawn;
    totalCorrect += members.correct;
  }
  const privateCount = correct.length - publicCount;
  // Fisher's p-value falls as the public correct count rises: sum from the top while it flags.
  let rate = 0;
  for (let x = publicCorrect.length - 1; x >= 0; x--) {
    if (publicCorrect[x] === 0) continue;
    if (fisherExactGreater({ correct: x, count: publicCount }, { correct: totalCorrect - x, count: privateCount }) > alpha) break;
    rate += publicCorrect[x];
  }
  return rate;
}
