// A stratified random split of a labelled set into a public part (the vendor sees it) and a
// private part (only the auditor holds it).

export interface Split {
  /** Positions in the labelled set, ascending. */
  readonly public: Int32Array;
  /** The other positions, ascending. */
  readonly private: Int32Array;
}

/** How many of a class's `count` images go public. */
export function publicCountOf(count: number, publicFraction: number): number {
  return Math.round(count * publicFraction);
}

/**
 * In each class, `round(count * publicFraction)` positions drawn uniformly at random (a
 * Fisher-Yates shuffle driven by `random`, classes in ascending order) go public, the rest private.
 */
export function stratifiedSplit(labels: Uint8Array, publicFraction: number, random: () => number): Split {
  if (!(publicFraction > 0 && publicFraction < 1)) throw new Error(`the public fraction must be strictly between 0 and 1 (got ${publicFraction})`);
  const byClass = new Map<number, number[]>();
  labels.forEach((label, position) => {
    const members = byClass.get(label) ?? [];
    members.push(position);
    byClass.set(label, members);
  });
  const isPublic = new Uint8Array(labels.length);
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = byClass.get(label)!;
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [members[i], members[j]] = [members[j], members[i]];
    }
    for (let i = 0; i < publicCountOf(members.length, publicFraction); i++) isPublic[members[i]] = 1;
  }
  const positions = (wanted: number) => Int32Array.from(isPublic.keys()).filter((position) => isPublic[position] === wanted);
  return { public: positions(1), private: positions(0) };
}
