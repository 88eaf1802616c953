import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { arrow } from '../pipeline/arrow.js';
import { featureSetToTable, imageSetToTable, tableToFeatureSet, tableToImageSet, IMAGE_BYTES } from '../data/tables.js';
import { pyarrowSnippet } from '../pipeline/python-snippet.js';
import { encodeArtifact } from '../pipeline/artifacts.js';

const sampleImages = () => ({
  count: 2,
  pixels: new Uint8Array(2 * IMAGE_BYTES).map((_, i) => i % 251),
  labels: new Uint8Array([1, 0]),
  indices: new Int32Array([4, 9]),
  classes: ['cat', 'dog'],
});

/** A Python with pyarrow, if this machine has one (PASSEURS_PYTHON, else python3). */
const python = process.env.PASSEURS_PYTHON ?? 'python3';
const hasPyarrow = spawnSync(python, ['-c', 'import pyarrow, numpy'], { stdio: 'ignore' }).status === 0;

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

  it("stores images as Arrow's canonical fixed_shape_tensor [32, 32, 3] over FixedSizeList<uint8>[3072]", () => {
    const table = tableFromIPC(tableToIPC(imageSetToTable(sampleImages()), 'file'));
    const image = table.schema.fields.find((field) => field.name === 'image')!;
    // Arrow format spec, "Canonical Extension Types", Fixed shape tensor.
    expect(image.metadata.get('ARROW:extension:name')).toBe('arrow.fixed_shape_tensor');
    expect(JSON.parse(image.metadata.get('ARROW:extension:metadata')!)).toEqual({ shape: [32, 32, 3] });
    expect(String(image.type)).toBe('FixedSizeList[3072]<Uint8>');
    expect(image.type.listSize).toBe(32 * 32 * 3);
  });

  it('keeps class names in a dictionary-encoded label column, not as JSON in the metadata', () => {
    const table = tableFromIPC(tableToIPC(imageSetToTable(sampleImages()), 'file'));
    expect(String(table.schema.fields.find((field) => field.name === 'label')!.type)).toBe('Dictionary<Uint8, Utf8>');
    expect(table.getChild('label')!.toArray()).toEqual(['dog', 'cat']);
    expect(table.schema.metadata.has('classes')).toBe(false);
    const features = tableFromIPC(tableToIPC(featureSetToTable({ count: 1, dimension: 2, features: new Float32Array(2), labels: new Uint8Array([1]), classes: ['x', 'y'], description: {} })));
    expect(features.getChild('label')!.toArray()).toEqual(['y']);
    expect(features.schema.metadata.has('classes')).toBe(false);
  });

  it("adds the caller's provenance to an image table's metadata, and writes the same bytes twice", () => {
    const provenance = { method: 'sign', direction: 'toward', step: '1', budget: '0' };
    const bytes = tableToIPC(imageSetToTable({ ...sampleImages(), description: provenance }), 'file');
    const metadata = Object.fromEntries(tableFromIPC(bytes).schema.metadata);
    expect(metadata).toMatchObject(provenance);
    expect(metadata.layout).toMatch(/HWC/);
    expect(Buffer.from(tableToIPC(imageSetToTable({ ...sampleImages(), description: provenance }), 'file')).equals(Buffer.from(bytes))).toBe(true);
  });

  it('gives `show` pyarrow lines that turn tensor columns into numpy arrays, and only those', () => {
    const images = pyarrowSnippet('/cache/a "b".arrow', imageSetToTable(sampleImages()));
    expect(images.split('\n')).toEqual([
      'import pyarrow as pa',
      'table = pa.ipc.open_file("/cache/a \\"b\\".arrow").read_all()',
      'image = table["image"].combine_chunks().to_numpy_ndarray()  # numpy, (rows, *shape)',
      'frame = table.to_pandas()',
    ]);
    const features = featureSetToTable({ count: 1, dimension: 2, features: new Float32Array(2), labels: new Uint8Array([0]), classes: ['x'], description: {} });
    expect(pyarrowSnippet('f.arrow', features)).not.toContain('to_numpy_ndarray');
  });

  it.skipIf(!hasPyarrow)('opens in pyarrow through the lines `show` prints: 32x32x3 uint8 tensors and categorical labels', () => {
    const directory = mkdtempSync(join(tmpdir(), 'tables-pyarrow-'));
    try {
      const path = join(directory, 'images.arrow');
      const set = sampleImages();
      const table = imageSetToTable({ ...set, description: { direction: 'toward' } });
      writeFileSync(path, tableToIPC(table, 'file'));
      const script = `${pyarrowSnippet(path, table)}\nprint(image.shape, image.dtype, list(image[1, 0, 0]), list(frame['label']), table.schema.metadata[b'direction'].decode())`;
      const printed = execFileSync(python, ['-c', script], { encoding: 'utf8' }).trim();
      // Image 1 starts at byte 3072 of the pixels, whose values are i % 251.
      expect(printed).toBe(`(2, 32, 32, 3) uint8 [${[3072, 3073, 3074].map((i) => `np.uint8(${i % 251})`).join(', ')}] ['dog', 'cat'] toward`);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('encodes a table artifact in parts whose concatenation is the Arrow IPC file, column buffers not copied', async () => {
    const features = new Float32Array(5 * 7).map((_, i) => Math.sin(i));
    const table = featureSetToTable({ count: 5, dimension: 7, labels: new Uint8Array([0, 1, 1, 0, 1]), features, classes: ['cat', 'dog'], description: { layer: 'x' } });
    const { parts, extension } = await encodeArtifact('table', table);
    expect(extension).toBe('arrow');
    expect(parts.length).toBeGreaterThan(1);
    expect(Buffer.concat(parts)).toEqual(Buffer.from(tableToIPC(table, 'file')));
    expect(parts.some((part) => part.buffer === features.buffer)).toBe(true);
    expect(tableToFeatureSet(tableFromIPC(Buffer.concat(parts))).features).toEqual(features);
  });

  it('refuses pixel buffers of the wrong size', () => {
    const set = { count: 2, pixels: new Uint8Array(10), labels: new Uint8Array(2), indices: new Int32Array(2), classes: [] };
    expect(() => imageSetToTable(set)).toThrow(/expected 6144/);
  });
});
