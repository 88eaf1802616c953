// The safetensors file format (as written by Python's `safetensors` package): an 8-byte
// little-endian header length, a JSON header mapping tensor names to
// { dtype, shape, data_offsets: [begin, end] } (offsets into the data after the header) plus an
// optional "__metadata__" object of strings, then the raw little-endian tensor bytes.
// Only float32 tensors are read and written here.

export interface Tensor {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export interface SafetensorsFile {
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Record<string, string>;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export function readSafetensors(bytes: Uint8Array, where: string): SafetensorsFile {
  if (bytes.length < 8) throw new Error(`${where}: too short for a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new Error(`${where}: header length ${headerLength} exceeds the file (${bytes.length} bytes); not a safetensors file?`);
  let header: Record<string, HeaderEntry | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw new Error(`${where}: unreadable safetensors header (${(error as Error).message})`);
  }
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: [begin, end] } = entry as HeaderEntry;
    if (dtype !== 'F32') throw new Error(`${where}: tensor ${name} is ${dtype}; save the weights as float32`);
    const length = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== length * 4 || end > data.length) throw new Error(`${where}: tensor ${name} has offsets ${begin}..${end}, inconsistent with shape [${shape}] or the file size`);
    const values = new Float32Array(length);
    new Uint8Array(values.buffer).set(data.subarray(begin, end));
    tensors.set(name, { shape, values });
  }
  return { tensors, metadata };
}

/** Tensors are stored in the given order; the output depends only on the arguments. */
export function writeSafetensors(tensors: ReadonlyMap<string, Tensor>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const length = tensor.shape.reduce((a, b) => a * b, 1);
    if (length !== tensor.values.length) throw new Error(`tensor ${name}: shape [${tensor.shape}] does not match ${tensor.values.length} values`);
    header[name] = { dtype: 'F32', shape: [...tensor.shape], data_offsets: [offset, offset + length * 4] };
    offset += length * 4;
  }
  let headerText = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  headerText += ' '.repeat((8 - ((8 + Buffer.byteLength(headerText)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerText);
  const bytes = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  bytes.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const tensor of tensors.values()) {
    bytes.set(new Uint8Array(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength), at);
    at += tensor.values.byteLength;
  }
  return bytes;
}
