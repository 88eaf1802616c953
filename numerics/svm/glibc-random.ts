// The C library's rand() as glibc implements it: an additive feedback generator over 31 words
// (r[i] = r[i-31] + r[i-3] mod 2^32, returning r[i] >> 1), seeded by srand(seed) with the
// Park-Miller sequence and 310 discarded outputs. liblinear-train never calls srand, so its
// coordinate order comes from seed 1: replaying it lets dual-cd stop where LIBLINEAR stops.
//
// The dual-cd worker receives this function's source text: it must not refer to anything
// outside its own body.

export function glibcRandom(seed: number): () => number {
  const words = 31;
  const state = new Int32Array(words);
  let word = seed === 0 ? 1 : seed | 0;
  state[0] = word;
  for (let i = 1; i < words; i++) {
    // 16807 * word mod (2^31 - 1) without overflow (Schrage's method), as glibc computes it
    const high = Math.trunc(word / 127773);
    const low = word % 127773;
    word = 16807 * low - 2836 * high;
    if (word < 0) word += 2147483647;
    state[i] = word;
  }
  let front = 3;
  let rear = 0;
  const next = (): number => {
    state[front] = (state[front] + state[rear]) | 0;
    const value = state[front] >>> 1;
    front = front + 1 === words ? 0 : front + 1;
    rear = rear + 1 === words ? 0 : rear + 1;
    return value;
  };
  for (let k = 0; k < 10 * words; k++) next();
  return next;
}
