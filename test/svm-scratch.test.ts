// The fit's kept arrays: a second fit reuses the first one's buffers, never one still in use.

import { describe, expect, it } from 'vitest';
import { fitLinearSvm } from '../numerics/svm/fit.js';
import { giveBackScratch, takeScratch } from '../numerics/svm/scratch.js';
import { realFeatures } from './svm-fixture.js';

describe('scratch arrays kept between fits', () => {
  it('gives a later take the buffer given back, when it is large enough', () => {
    const first = takeScratch('test reuse', Float64Array, 1000);
    expect(first.length).toBe(1000);
    giveBackScratch('test reuse', first);
    const smaller = takeScratch('test reuse', Float64Array, 600);
    expect(smaller.length).toBe(600);
    expect(smaller.buffer).toBe(first.buffer);
  });

  it('never hands out a buffer twice, and keeps the larger of two given back', () => {
    const a = takeScratch('test busy', Float32Array, 100);
    giveBackScratch('test busy', a);
    const b = takeScratch('test busy', Float32Array, 100);
    const c = takeScratch('test busy', Float32Array, 100); // b holds a's buffer: c gets its own
    expect(b.buffer).toBe(a.buffer);
    expect(c.buffer).not.toBe(b.buffer);
    const large = takeScratch('test busy', Float32Array, 400);
    giveBackScratch('test busy', large);
    giveBackScratch('test busy', b);
    expect(takeScratch('test busy', Float32Array, 300).buffer).toBe(large.buffer);
    expect(takeScratch('test busy', Float32Array, 50).buffer).not.toBe(large.buffer); // taken: a fresh one
  });

  it('keeps buffers per use', () => {
    const x = takeScratch('test use x', Float64Array, 10);
    giveBackScratch('test use x', x);
    expect(takeScratch('test use y', Float64Array, 10).buffer).not.toBe(x.buffer);
  });
});

describe('primal-newton on kept arrays', () => {
  it('fits the same model before and after a larger fit has left its values in the kept arrays', async () => {
    const { train, test } = await realFeatures({ train: 40, test: 20 }, { inputSize: 32, featureLayer: 'conv_pw_5_relu' });
    const params = { solver: 'primal-newton', C: 1, eps: 0, bias: 1 } as const;
    const before = await fitLinearSvm(test, params);
    await fitLinearSvm(train, params);
    const after = await fitLinearSvm(test, params);
    expect(after.weights).toEqual(before.weights);
    expect(after.biasWeights).toEqual(before.biasWeights);
  });
});
