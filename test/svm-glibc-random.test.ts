// glibc's rand(), replayed: the values below are what `rand()` returns in a C program on glibc
// (Debian's libc6) after srand(1), which is also the state of a program that never calls srand,
// and after srand(42).

import { describe, expect, test } from 'vitest';
import { glibcRandom } from '../numerics/svm/glibc-random.js';

const draw = (seed: number, count: number) => {
  const next = glibcRandom(seed);
  return Array.from({ length: count }, next);
};

describe('glibcRandom', () => {
  test('replays rand() without srand (seed 1)', () => {
    const values = draw(1, 100_000);
    expect(values.slice(0, 5)).toEqual([1804289383, 846930886, 1681692777, 1714636915, 1957747793]);
    expect(values[9_999]).toBe(1908609430);
    expect(values[99_999]).toBe(660658275);
  });

  test('replays rand() after srand(42)', () => {
    const values = draw(42, 1000);
    expect(values.slice(0, 3)).toEqual([71876166, 708592740, 1483128881]);
    expect(values[999]).toBe(896784309);
  });

  test('srand(0) is srand(1), as in glibc', () => {
    expect(draw(0, 50)).toEqual(draw(1, 50));
  });
});
