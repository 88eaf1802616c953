import { describe, expect, it } from 'vitest';
import { arrow } from '../pipeline/arrow.js';
import { featureSetToTable, imageSetToTable, tableToFeatureSet, tableToImageSet, IMAGE_BYTES } from '../data/tables.js';

const { tableFromIPC, tableToIPC } = arrow();

describe('Arrow layouts', () => {
  it('round-trips an image set through an Arrow IPC file', () => {
    const count = 3;
    const pixels = new Uint8Array(count * IMAGE_BYTES).map((_, i) => (i * 7) % 256);
    const set = { count, pixels, labels: new Uint8Array([2, 0, 9]), indices: new Int32Array([5, 1, 7]), classes: ['a', 'b'] };
    const back = tableToImageSet(tableFromIPC(tableToIPC(imageSetToTable(set), 'file')));
    expect(back.count).toBe(3);
    expect(Array.from(back.labels)).toEqual([2, 0, 9]);
    expect(Array.from(back.indices)).toEqual([5, 1, 7]);
    expect(Buffer.from(back.pixels).equals(Buffer.from(pixels))).toBe(true);
    expect(back.classes).toEqual(['a', 'b']);
  });

  it('round-trips a feature set with its provenance', () => {
    const features = new Float32Array([1, 2, 3, 4, 5, 6]);
    const set = { count: 2, dimension: 3, features, labels: new Uint8Array([1, 0]), classes: ['x', 'y'], description: { backbone: 'm' } };
    const back = tableToFeatureSet(tableFromIPC(tableToIPC(featureSetToTable(set), 'file')));
    expect(back.dimension).toBe(3);
    expect(Array.from(back.features)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.description).toEqual({ backbone: 'm' });
  });

  it('refuses pixel buffers of the wrong size', () => {
    const set = { count: 2, pixels: new Uint8Array(10), labels: new Uint8Array(2), indices: new Int32Array(2), classes: [] };
    expect(() => imageSetToTable(set)).toThrow(/expected 6144/);
  });
});
