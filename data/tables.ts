// Arrow layouts shared by the stages: image sets, feature matrices and linear models.
// Each layout is built from, and read back into, flat typed arrays without per-row copies.

import { arrow, type Data, type DataType, type Field, type FixedSizeList, type Table } from '../pipeline/arrow.js';

export const IMAGE_SIDE = 32;
export const IMAGE_CHANNELS = 3;
export const IMAGE_BYTES = IMAGE_SIDE * IMAGE_SIDE * IMAGE_CHANNELS;
export const IMAGE_LAYOUT = 'uint8 RGB, 32x32, row-major HWC (pixel (y, x) channel c at (y*32 + x)*3 + c)';

/** A set of labelled 32x32 RGB images, pixels 0..255 in HWC order. */
export interface ImageSet {
  readonly count: number;
  readonly labels: Uint8Array;
  /** count * 3072 bytes. */
  readonly pixels: Uint8Array;
  /** Position of each image in its original split (stable through subsetting and perturbation). */
  readonly indices: Int32Array;
  readonly classes: readonly string[];
}

/** Labelled feature vectors, row-major float32. */
export interface FeatureSet {
  readonly count: number;
  readonly dimension: number;
  readonly labels: Uint8Array;
  /** count * dimension values. */
  readonly features: Float32Array;
  readonly classes: readonly string[];
  /** Provenance (backbone, layer, input size...), kept in the table's schema metadata. */
  readonly description: Record<string, string>;
}

function column<T extends DataType>(type: T, length: number, values: T['TArray']): Data<T> {
  return arrow().makeData({ type, length, data: values, nullCount: 0 } as never) as Data<T>;
}

function fixedSizeList(listSize: number, itemName: string, values: Uint8Array | Float32Array, length: number) {
  const { Field, FixedSizeList, Float32, Uint8, makeData } = arrow();
  const itemType = values instanceof Uint8Array ? new Uint8() : new Float32();
  const child = makeData({ type: itemType, length: length * listSize, data: values, nullCount: 0 } as never);
  const type = new FixedSizeList(listSize, new Field(itemName, itemType, false));
  return makeData({ type, length, child, nullCount: 0 } as never) as unknown as Data<FixedSizeList>;
}

/** A table of one record batch: the layout every artifact table of the project uses. */
export function oneBatchTable(fields: Field[], columns: Data[], metadata: Record<string, string>, length: number): Table {
  const { RecordBatch, Schema, Struct, Table, makeData } = arrow();
  const schema = new Schema(fields, new Map(Object.entries(metadata)));
  const struct = makeData({ type: new Struct(fields), length, children: columns, nullCount: 0 });
  return new Table([new RecordBatch(schema, struct)]);
}

/** The contiguous values of a primitive or fixed-size-list column (one copy only if the table has several batches). */
function columnValues<A extends Uint8Array | Int32Array | Float32Array>(table: Table, name: string, perRow: number): A {
  const vector = table.getChild(name);
  if (!vector) throw new Error(`table has no column '${name}' (columns: ${table.schema.fields.map((f) => f.name).join(', ')})`);
  const slices = vector.data.map((data) => {
    const leaf = perRow === 1 ? data : data.children[0];
    const start = (perRow === 1 ? data.offset : data.offset * perRow) + (perRow === 1 ? 0 : leaf.offset);
    return (leaf.values as A).subarray(start, start + data.length * perRow) as A;
  });
  if (slices.length === 1) return slices[0];
  const Ctor = slices[0].constructor as new (n: number) => A;
  const joined = new Ctor(table.numRows * perRow);
  let at = 0;
  for (const slice of slices) {
    joined.set(slice as never, at);
    at += slice.length;
  }
  return joined;
}

function metadataOf(table: Table): Map<string, string> {
  return table.schema.metadata;
}

function classesOf(table: Table): string[] {
  const raw = metadataOf(table).get('classes');
  if (!raw) throw new Error("table metadata has no 'classes' entry");
  return JSON.parse(raw) as string[];
}

export function imageSetToTable(set: ImageSet): Table {
  if (set.pixels.length !== set.count * IMAGE_BYTES) {
    throw new Error(`image set: ${set.pixels.length} pixel bytes for ${set.count} images (expected ${set.count * IMAGE_BYTES})`);
  }
  const { Field, FixedSizeList, Int32, Uint8 } = arrow();
  const fields = [
    new Field('index', new Int32(), false),
    new Field('label', new Uint8(), false),
    new Field('image', new FixedSizeList(IMAGE_BYTES, new Field('pixel', new Uint8(), false)), false),
  ];
  return oneBatchTable(
    fields,
    [
      column(new Int32(), set.count, set.indices),
      column(new Uint8(), set.count, set.labels),
      fixedSizeList(IMAGE_BYTES, 'pixel', set.pixels, set.count),
    ],
    { layout: IMAGE_LAYOUT, classes: JSON.stringify(set.classes) },
    set.count,
  );
}

export function tableToImageSet(table: Table): ImageSet {
  return {
    count: table.numRows,
    indices: columnValues<Int32Array>(table, 'index', 1),
    labels: columnValues<Uint8Array>(table, 'label', 1),
    pixels: columnValues<Uint8Array>(table, 'image', IMAGE_BYTES),
    classes: classesOf(table),
  };
}

export function featureSetToTable(set: FeatureSet): Table {
  if (set.features.length !== set.count * set.dimension) {
    throw new Error(`feature set: ${set.features.length} values for ${set.count} x ${set.dimension}`);
  }
  const { Field, FixedSizeList, Float32, Uint8 } = arrow();
  const fields = [
    new Field('label', new Uint8(), false),
    new Field('features', new FixedSizeList(set.dimension, new Field('value', new Float32(), false)), false),
  ];
  return oneBatchTable(
    fields,
    [column(new Uint8(), set.count, set.labels), fixedSizeList(set.dimension, 'value', set.features, set.count)],
    { ...set.description, classes: JSON.stringify(set.classes), dimension: String(set.dimension) },
    set.count,
  );
}

export function tableToFeatureSet(table: Table): FeatureSet {
  const metadata = metadataOf(table);
  const dimension = Number(metadata.get('dimension'));
  const description: Record<string, string> = {};
  for (const [key, value] of metadata) if (key !== 'classes' && key !== 'dimension') description[key] = value;
  return {
    count: table.numRows,
    dimension,
    labels: columnValues<Uint8Array>(table, 'label', 1),
    features: columnValues<Float32Array>(table, 'features', dimension),
    classes: classesOf(table),
    description,
  };
}
