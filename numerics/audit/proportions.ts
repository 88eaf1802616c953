// Two independent binomial samples (correct answers of one model on the public and on the private
// test images): Fisher's exact one-sided test, Newcombe's interval for the difference of the two
// proportions, the exact power of the test and the sample size it needs, and the Clopper-Pearson
// interval of a single proportion.
//
// Probabilities are built from ratios of neighbouring terms, starting at the mode, never from
// factorials: relative precision stays near 1e-13 at any sample size, and a tail underflows to 0
// only below about 1e-300.

/** Correct answers out of a sample. */
export interface Sample {
  readonly correct: number;
  readonly count: number;
}

/** Probabilities of consecutive integers, relative to the mode's (1). */
interface Terms {
  /** The integer of values[0]. */
  readonly start: number;
  readonly values: Float64Array;
  readonly total: number;
}

/**
 * The terms of a unimodal distribution on [low, high] from `ratio(x) = p(x+1) / p(x)`, walking
 * out from the mode until a term falls below `cutoff` (0: until it underflows).
 */
function termsFromMode(low: number, high: number, mode: number, ratio: (x: number) => number, cutoff: number): Terms {
  const above: number[] = [];
  for (let x = mode, term = 1; x < high; x++) {
    term *= ratio(x);
    if (term <= cutoff || term === 0) break;
    above.push(term);
  }
  const below: number[] = [];
  for (let x = mode - 1, term = 1; x >= low; x--) {
    term /= ratio(x);
    if (term <= cutoff || term === 0) break;
    below.push(term);
  }
  const values = Float64Array.from([...below.reverse(), 1, ...above]);
  let total = 0;
  for (const value of values) total += value;
  return { start: mode - below.length, values, total };
}

/** The number of public correct answers, given `totalCorrect` correct answers in both samples. */
function hypergeometric(publicCount: number, privateCount: number, totalCorrect: number, cutoff: number): Terms {
  const low = Math.max(0, totalCorrect - privateCount);
  const high = Math.min(publicCount, totalCorrect);
  const mode = Math.min(high, Math.max(low, Math.floor(((totalCorrect + 1) * (publicCount + 1)) / (publicCount + privateCount + 2))));
  const ratio = (x: number) => ((publicCount - x) * (totalCorrect - x)) / ((x + 1) * (privateCount - totalCorrect + x + 1));
  return termsFromMode(low, high, mode, ratio, cutoff);
}

function binomial(count: number, probability: number, cutoff: number): Terms {
  if (probability <= 0) return { start: 0, values: Float64Array.of(1), total: 1 };
  if (probability >= 1) return { start: count, values: Float64Array.of(1), total: 1 };
  const mode = Math.min(count, Math.floor((count + 1) * probability));
  const odds = probability / (1 - probability);
  return termsFromMode(0, count, mode, (x) => ((count - x) / (x + 1)) * odds, cutoff);
}

/**
 * The distribution of the number of correct answers among `publicCount` images drawn without
 * replacement from `publicCount + privateCount` images of which `totalCorrect` are answered right:
 * `probabilities[i]` is P(X = start + i) (terms below about 1e-300 are left out).
 */
export function hypergeometricDistribution(publicCount: number, privateCount: number, totalCorrect: number): { start: number; probabilities: Float64Array } {
  const terms = hypergeometric(publicCount, privateCount, totalCorrect, 0);
  return { start: terms.start, probabilities: terms.values.map((value) => value / terms.total) };
}

/** P(X >= x) for the distribution of `terms`. */
function upperTail(terms: Terms, x: number): number {
  const from = x - terms.start;
  if (from <= 0) return 1;
  let tail = 0;
  for (let i = terms.values.length - 1; i >= from; i--) tail += terms.values[i];
  return Math.min(1, tail / terms.total);
}

function checkSample(sample: Sample, name: string): void {
  if (!Number.isInteger(sample.count) || sample.count < 1 || !Number.isInteger(sample.correct) || sample.correct < 0 || sample.correct > sample.count) {
    throw new Error(`${name} sample: ${sample.correct} correct of ${sample.count} is not a count of successes in a non-empty sample`);
  }
}

/**
 * Fisher's exact test, one-sided: the p-value of "public accuracy exceeds private accuracy", i.e.
 * P(X >= public.correct) for X hypergeometric given both sample sizes and the total correct
 * (scipy.stats.fisher_exact([[a, b], [c, d]], alternative='greater')).
 */
export function fisherExactGreater(publicSample: Sample, privateSample: Sample): number {
  checkSample(publicSample, 'public');
  checkSample(privateSample, 'private');
  const terms = hypergeometric(publicSample.count, privateSample.count, publicSample.correct + privateSample.correct, 0);
  return upperTail(terms, publicSample.correct);
}

/** The standard normal quantile (Wichura's algorithm AS 241, relative error about 1e-16). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`normalQuantile: p must be in (0, 1) (got ${p})`);
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (
      (q *
        (((((((2509.0809287301226727 * r + 33430.575583588128105) * r + 67265.770927008700853) * r + 45921.953931549871457) * r +
          13731.693765509461125) *
          r +
          1971.5909503065514427) *
          r +
          133.14166789178437745) *
          r +
          3.387132872796366608)) /
      (((((((5226.495278852545925 * r + 28729.085735721942674) * r + 39307.89580009271061) * r + 21213.794301586595867) * r +
        5394.1960214247511077) *
        r +
        687.1870074920579083) *
        r +
        42.313330701600911252) *
        r +
        1)
    );
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let value: number;
  if (r <= 5) {
    r -= 1.6;
    value =
      (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r + 0.24178072517745061177) * r + 1.27045825245236838258) * r +
        3.64784832476320460504) *
        r +
        5.7694972214606914055) *
        r +
        4.6303378461565452959) *
        r +
        1.42343711074968357734) /
      (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r + 0.14810397642748007459) * r +
        0.68976733498510000455) *
        r +
        1.6763848301838038494) *
        r +
        2.05319162663775882187) *
        r +
        1);
  } else {
    r -= 5;
    value =
      (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r + 0.026532189526576123093) * r +
        0.29656057182850489123) *
        r +
        1.7848265399172913358) *
        r +
        5.4637849111641143699) *
        r +
        6.6579046435011037772) /
      (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r +
        0.0148753612908506148525) *
        r +
        0.13692988092273580531) *
        r +
        0.59983220655588793769) *
        r +
        1);
  }
  return q < 0 ? -value : value;
}

/** Wilson's score interval of one proportion, two-sided at `confidence`. */
export function wilsonInterval(sample: Sample, confidence: number): [number, number] {
  checkSample(sample, 'the');
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const n = sample.count;
  const z2 = z * z;
  const centre = (sample.correct + z2 / 2) / (n + z2);
  const half = (z / (n + z2)) * Math.sqrt((sample.correct * (n - sample.correct)) / n + z2 / 4);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * Newcombe's hybrid score interval (1998, method 10) of public accuracy minus private accuracy,
 * two-sided at `confidence`, built from the Wilson interval of each sample.
 */
export function newcombeInterval(publicSample: Sample, privateSample: Sample, confidence: number): [number, number] {
  const p1 = publicSample.correct / publicSample.count;
  const p2 = privateSample.correct / privateSample.count;
  const [l1, u1] = wilsonInterval(publicSample, confidence);
  const [l2, u2] = wilsonInterval(privateSample, confidence);
  const difference = p1 - p2;
  return [difference - Math.hypot(p1 - l1, u2 - p2), difference + Math.hypot(u1 - p1, p2 - l2)];
}

/** Terms below this share of the mode are left out of power sums: their total is under 1e-13. */
const POWER_CUTOFF = 1e-18;

/**
 * The exact power of the one-sided Fisher test at level `alpha` (reject when p <= alpha) for two
 * independent binomial samples with true accuracies `publicAccuracy` and `privateAccuracy`.
 */
export function fisherPower(publicCount: number, publicAccuracy: number, privateCount: number, privateAccuracy: number, alpha: number): number {
  const publicTerms = binomial(publicCount, publicAccuracy, POWER_CUTOFF);
  const privateTerms = binomial(privateCount, privateAccuracy, POWER_CUTOFF);
  const lowestTotal = publicTerms.start + privateTerms.start;
  const totals = publicTerms.values.length + privateTerms.values.length - 1;
  // The smallest public count the test rejects at, for each total of correct answers.
  const critical = new Int32Array(totals);
  for (let i = 0; i < totals; i++) {
    const terms = hypergeometric(publicCount, privateCount, lowestTotal + i, POWER_CUTOFF * alpha);
    let tail = 0;
    let index = terms.values.length;
    while (index > 0 && tail + terms.values[index - 1] <= alpha * terms.total) tail += terms.values[--index];
    critical[i] = terms.start + index;
  }
  let power = 0;
  publicTerms.values.forEach((publicTerm, i) => {
    const publicCorrect = publicTerms.start + i;
    privateTerms.values.forEach((privateTerm, j) => {
      if (publicCorrect >= critical[i + j]) power += publicTerm * privateTerm;
    });
  });
  return power / (publicTerms.total * privateTerms.total);
}

export interface SampleSizeNeeded {
  /** The smallest private sample size found with power >= the target; null if even `maxPrivate` falls short. */
  readonly privateCount: number | null;
  /** The exact power at that size (at `maxPrivate` when null). */
  readonly power: number;
}

/**
 * The private sample size at which the one-sided Fisher test at level `alpha` flags a public
 * accuracy `inflation` above the true accuracy `honestAccuracy` with probability `targetPower`,
 * the public sample size being fixed. Found by bisection: the exact test's power saw-tooths in
 * the sample size, so a neighbouring size may fall a little short of the target.
 */
export function privateSizeNeeded(
  publicCount: number,
  honestAccuracy: number,
  inflation: number,
  alpha: number,
  targetPower: number,
  maxPrivate: number,
): SampleSizeNeeded {
  const publicAccuracy = honestAccuracy + inflation;
  if (!(inflation > 0) || publicAccuracy > 1) {
    throw new Error(`an inflation of ${inflation} over an honest accuracy of ${honestAccuracy} is not a public accuracy in (honest, 1]`);
  }
  const power = (privateCount: number) => fisherPower(publicCount, publicAccuracy, privateCount, honestAccuracy, alpha);
  const atMax = power(maxPrivate);
  if (atMax < targetPower) return { privateCount: null, power: atMax };
  let short = 0;
  let enough = maxPrivate;
  let enoughPower = atMax;
  while (enough - short > 1) {
    const middle = Math.floor((short + enough) / 2);
    const middlePower = power(middle);
    if (middlePower >= targetPower) [enough, enoughPower] = [middle, middlePower];
    else short = middle;
  }
  return { privateCount: enough, power: enoughPower };
}

/** P(X <= k) for X ~ Binomial(n, p), summed exactly (for small n). */
function binomialCdf(k: number, n: number, p: number): number {
  let term = (1 - p) ** n;
  let sum = term;
  for (let x = 0; x < k; x++) {
    term *= ((n - x) / (x + 1)) * (p / (1 - p));
    sum += term;
  }
  return Math.min(1, sum);
}

/** The p where `decreasing(p)` crosses `level`, by bisection on [0, 1]. */
function solveDecreasing(decreasing: (p: number) => number, level: number): number {
  let low = 0;
  let high = 1;
  for (let i = 0; i < 100; i++) {
    const middle = (low + high) / 2;
    if (decreasing(middle) > level) low = middle;
    else high = middle;
  }
  return (low + high) / 2;
}

/** The Clopper-Pearson ("exact") interval of a proportion, two-sided at `confidence`. */
export function clopperPearsonInterval(sample: Sample, confidence: number): [number, number] {
  checkSample(sample, 'the');
  const { correct: k, count: n } = sample;
  const level = (1 - confidence) / 2;
  const lower = k === 0 ? 0 : solveDecreasing((p) => binomialCdf(k - 1, n, p), 1 - level);
  const upper = k === n ? 1 : solveDecreasing((p) => binomialCdf(k, n, p), level);
  return [lower, upper];
}
