// Arrow layouts shared by the stages: image sets, feature matrices and linear models.
// Each layout is built from, and read back into, flat typed arrays without per-row copies.

import { arrow, type Data, type DataType, type Field, type FixedSizeList, type Table } from '../pipeline/arrow.js';

export const IMAGE_SIDE = 32;
export const IMAGE_CHANNELS = 3;
export const IMAGE_BYTES = IMAGE_SIDE * IMAGE_SIDE * IMAGE_CHANNELS;
export const IMAGE_LAYOUT = 'uint8 RGB, 32x32, row-major HWC (pixel (y, x) channel c at (y*32 + x)*3 + c)';
/**
 * The `image` column is Arrow's canonical extension type `arrow.fixed_shape_tensor` (format
 * spec, "Canonical Extension Types"): a FixedSizeList<uint8>[3072] storage whose field carries
 * the extension's name and its JSON metadata. Readers that know the type (pyarrow's
 * `to_numpy_ndarray()`) see 32x32x3 tensors; the others see the storage list.
 */
const IMAGE_TENSOR_METADATA: ReadonlyMap<string, string> = new Map([
  ['ARROW:extension:name', 'arrow.fixed_shape_tensor'],
  ['ARROW:extension:metadata', JSON.stringify({ shape: [IMAGE_SIDE, IMAGE_SIDE, IMAGE_CHANNELS] })],
]);

/** A set of labelled 32x32 RGB images, pixels 0..255 in HWC order. */
export interface ImageSet {
  readonly count: number;
  readonly labels: Uint8Array;
  /** count * 3072 bytes. */
  readonly pixels: Uint8Array;
  /** Position of each image in its original split (stable through subsetting and perturbation). */
  readonly indices: Int32Array;
  readonly classes: readonly string[];
  /** Provenance (e.g. how a perturbation made them), kept in the table's schema metadata. */
  readonly description?: Record<string, string>;
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

function fixedSizeList(type: FixedSizeList, values: Uint8Array | Int8Array | Float32Array, length: number) {
  const { makeData } = arrow();
  const child = makeData({ type: type.children[0].type, length: length * type.listSize, data: values, nullCount: 0 } as never);
  return makeData({ type, length, child, nullCount: 0 } as never) as unknown as Data<FixedSizeList>;
}

/** The `label` column: class indices, dictionary-encoded with the class names (a pandas categorical). */
function labelField(): Field {
  const { Dictionary, Field, Uint8, Utf8 } = arrow();
  // A fixed dictionary id: Arrow's default is a process-wide counter, which would make the bytes depend on history.
  return new Field('label', new Dictionary(new Utf8(), new Uint8(), 0), false);
}

function labelColumn(labels: Uint8Array, classes: readonly string[]): Data {
  const { Utf8, makeData, vectorFromArray } = arrow();
  const dictionary = vectorFromArray([...classes], new Utf8());
  return makeData({ type: labelField().type, length: labels.length, data: labels, nullCount: 0, dictionary } as never);
}

/** A table of one record batch: the layout every artifact table of the project uses. */
export function oneBatchTable(fields: Field[], columns: Data[], metadata: Record<string, string>, length: number): Table {
  const { RecordBatch, Schema, Struct, Table, makeData } = arrow();
  const schema = new Schema(fields, new Map(Object.entries(metadata)));
  const struct = makeData({ type: new Struct(fields), length, children: columns, nullCount: 0 });
  return new Table([new RecordBatch(schema, struct)]);
}

/** The contiguous values of a primitive or fixed-size-list column (one copy only if the table has several batches). */
function columnValues<A extends Uint8Array | Int8Array | Int32Array | Float32Array>(table: Table, name: string, perRow: number): A {
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

function classesOf(table: Table): string[] {
  const label = table.getChild('label');
  const dictionary = label?.data[0]?.dictionary;
  if (!dictionary) throw new Error("table has no dictionary-encoded 'label' column holding the class names");
  return dictionary.toArray() as string[];
}

/** The storage type of the `image` column; the field adds the extension metadata. */
function imageStorage(): FixedSizeList {
  const { Field, FixedSizeList, Uint8 } = arrow();
  return new FixedSizeList(IMAGE_BYTES, new Field('item', new Uint8(), true));
}

export function imageSetToTable(set: ImageSet): Table {
  if (set.pixels.length !== set.count * IMAGE_BYTES) {
    throw new Error(`image set: ${set.pixels.length} pixel bytes for ${set.count} images (expected ${set.count * IMAGE_BYTES})`);
  }
  const { Field, Int32 } = arrow();
  const image = new Field('image', imageStorage(), false, new Map(IMAGE_TENSOR_METADATA));
  const fields = [new Field('index', new Int32(), false), labelField(), image];
  return oneBatchTable(
    fields,
    [column(new Int32(), set.count, set.indices), labelColumn(set.labels, set.classes), fixedSizeList(image.type, set.pixels, set.count)],
    { ...set.description, layout: IMAGE_LAYOUT },
    set.count,
  );
}

export function tableToImageSet(table: Table): ImageSet {
  const description = Object.fromEntries([...table.schema.metadata].filter(([key]) => key !== 'layout'));
  return {
    count: table.numRows,
    indices: columnValues<Int32Array>(table, 'index', 1),
    labels: columnValues<Uint8Array>(table, 'label', 1),
    pixels: columnValues<Uint8Array>(table, 'image', IMAGE_BYTES),
    classes: classesOf(table),
    description,
  };
}

export function featureSetToTable(set: FeatureSet): Table {
  if (set.features.length !== set.count * set.dimension) {
    throw new Error(`feature set: ${set.features.length} values for ${set.count} x ${set.dimension}`);
  }
  const { Field, FixedSizeList, Float32 } = arrow();
  const features = new Field('features', new FixedSizeList(set.dimension, new Field('item', new Float32(), true)), false);
  return oneBatchTable(
    [labelField(), features],
    [labelColumn(set.labels, set.classes), fixedSizeList(features.type, set.features, set.count)],
    { ...set.description, dimension: String(set.dimension) },
    set.count,
  );
}

/** What computed an image set's features: the table metadata of every feature set made from images. */
export interface FeatureProvenance {
  readonly backbone: string;
  readonly feature_layer: string;
  readonly input_size: number;
  readonly engine: string;
}

/** The features of `images` (count x dimension, row-major), labels and classes kept. */
export function imageFeaturesToTable(images: ImageSet, features: Float32Array, dimension: number, provenance: FeatureProvenance): Table {
  return featureSetToTable({
    count: images.count,
    dimension,
    labels: images.labels,
    features,
    classes: images.classes,
    description: { ...provenance, input_size: String(provenance.input_size) },
  });
}

export function tableToFeatureSet(table: Table): FeatureSet {
  const metadata = table.schema.metadata;
  const dimension = Number(metadata.get('dimension'));
  const description: Record<string, string> = {};
  for (const [key, value] of metadata) if (key !== 'dimension') description[key] = value;
  return {
    count: table.numRows,
    dimension,
    labels: columnValues<Uint8Array>(table, 'label', 1),
    features: columnValues<Float32Array>(table, 'features', dimension),
    classes: classesOf(table),
    description,
  };
}

/** The signs (-1, 0, +1) of a loss gradient with respect to each pixel of a set of images, with what computed it. */
export interface GradientSigns {
  readonly count: number;
  /** The images' positions in their split, as in their image table. */
  readonly indices: Int32Array;
  /** count * 3072 values, in the images' HWC order. */
  readonly signs: Int8Array;
  readonly description: Record<string, string>;
}

export function gradientSignsToTable(set: GradientSigns): Table {
  if (set.signs.length !== set.count * IMAGE_BYTES) throw new Error(`gradient signs: ${set.signs.length} values for ${set.count} images (expected ${set.count * IMAGE_BYTES})`);
  const { Field, FixedSizeList, Int8, Int32 } = arrow();
  const signs = new Field('signs', new FixedSizeList(IMAGE_BYTES, new Field('item', new Int8(), true)), false);
  return oneBatchTable(
    [new Field('index', new Int32(), false), signs],
    [column(new Int32(), set.count, set.indices), fixedSizeList(signs.type, set.signs, set.count)],
    { ...set.description, layout: IMAGE_LAYOUT },
    set.count,
  );
}

export function tableToGradientSigns(table: Table): GradientSigns {
  return {
    count: table.numRows,
    indices: columnValues<Int32Array>(table, 'index', 1),
    signs: columnValues<Int8Array>(table, 'signs', IMAGE_BYTES),
    description: Object.fromEntries([...table.schema.metadata].filter(([key]) => key !== 'layout')),
  };
}
