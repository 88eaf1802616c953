// ROC curve and area under it for scores where higher means "more likely positive".

export interface RocPoint {
  readonly falsePositiveRate: number;
  readonly truePositiveRate: number;
}

function counts(positive: Uint8Array, scores: Float64Array): { positives: number; negatives: number } {
  if (positive.length !== scores.length) throw new Error(`ROC: ${scores.length} scores for ${positive.length} labels`);
  let positives = 0;
  for (const flag of positive) if (flag) positives++;
  const negatives = positive.length - positives;
  if (positives === 0 || negatives === 0) throw new Error(`ROC: needs positives and negatives (got ${positives} and ${negatives})`);
  return { positives, negatives };
}

/** Indices by descending score; equal scores keep index order. */
function byDescendingScore(scores: Float64Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * The area under the ROC curve: the probability that a random positive scores above a random
 * negative, ties counting one half (the Mann-Whitney U statistic over positives x negatives).
 */
export function rocAuc(scores: Float64Array, positive: Uint8Array): number {
  const { positives, negatives } = counts(positive, scores);
  const order = byDescendingScore(scores);
  let wins = 0;
  let positivesSoFar = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    let tiedPositives = 0;
    let tiedNegatives = 0;
    while (end < order.length && scores[order[end]] === scores[order[start]]) {
      if (positive[order[end]]) tiedPositives++;
      else tiedNegatives++;
      end++;
    }
    // Each negative of the group loses to the positives above it and ties with those beside it.
    wins += tiedNegatives * (positivesSoFar + tiedPositives / 2);
    positivesSoFar += tiedPositives;
    start = end;
  }
  return wins / (positives * negatives);
}

/**
 * The ROC curve, one vertex per distinct score from (0, 0) to (1, 1), thinned to vertices at
 * least `resolution` apart in either rate (the first and last always kept).
 */
export function rocCurve(scores: Float64Array, positive: Uint8Array, resolution = 0.005): RocPoint[] {
  const { positives, negatives } = counts(positive, scores);
  const order = byDescendingScore(scores);
  const vertices: RocPoint[] = [{ falsePositiveRate: 0, truePositiveRate: 0 }];
  let truePositives = 0;
  let falsePositives = 0;
  for (let i = 0; i < order.length; i++) {
    if (positive[order[i]]) truePositives++;
    else falsePositives++;
    if (i + 1 < order.length && scores[order[i + 1]] === scores[order[i]]) continue;
    vertices.push({ falsePositiveRate: falsePositives / negatives, truePositiveRate: truePositives / positives });
  }
  const kept = [vertices[0]];
  for (let i = 1; i < vertices.length - 1; i++) {
    const last = kept[kept.length - 1];
    const vertex = vertices[i];
    if (vertex.falsePositiveRate - last.falsePositiveRate >= resolution || vertex.truePositiveRate - last.truePositiveRate >= resolution) {
      kept.push(vertex);
    }
  }
  kept.push(vertices[vertices.length - 1]);
  return kept;
}
