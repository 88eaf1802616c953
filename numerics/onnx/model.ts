// An in-memory ONNX graph and its serialization to a ModelProto (field numbers from onnx.proto3).

import { ProtobufWriter } from './protobuf.js';

export const ONNX_OPSET = 17;
const IR_VERSION = 8;

/** TensorProto.DataType values used here. */
export const DataType = { float: 1, uint8: 2, int64: 7, bool: 9, double: 11 } as const;
export type ElementType = keyof typeof DataType;

export interface Initializer {
  readonly name: string;
  readonly type: 'float' | 'int64';
  readonly dims: readonly number[];
  readonly values: Float32Array | BigInt64Array;
}

export type AttributeValue = number | readonly number[] | string;

export interface Node {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Integers (and integer lists) unless named in floatAttributes. */
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly floatAttributes?: readonly string[];
}

/** A graph input or output: dimensions are sizes, or names for symbolic ones. */
export interface ValueInfo {
  readonly name: string;
  readonly type: ElementType;
  readonly dims: readonly (number | string)[];
}

export interface Graph {
  readonly name: string;
  readonly nodes: readonly Node[];
  readonly initializers: readonly Initializer[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

const AttributeType = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

function writeAttribute(writer: ProtobufWriter, name: string, value: AttributeValue, isFloat: boolean): void {
  writer.string(1, name);
  if (typeof value === 'string') {
    writer.bytes(4, new TextEncoder().encode(value)).int(20, AttributeType.string);
  } else if (typeof value === 'number') {
    if (isFloat) writer.float(2, value).int(20, AttributeType.float);
    else writer.int(3, value).int(20, AttributeType.int);
  } else {
    for (const item of value) {
      if (isFloat) writer.float(7, item);
      else writer.int(8, item);
    }
    writer.int(20, isFloat ? AttributeType.floats : AttributeType.ints);
  }
}

function writeTensor(writer: ProtobufWriter, tensor: Initializer): void {
  for (const dim of tensor.dims) writer.int(1, dim);
  writer.int(2, DataType[tensor.type]);
  writer.string(8, tensor.name);
  const values = tensor.values;
  writer.bytes(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

function writeValueInfo(writer: ProtobufWriter, value: ValueInfo): void {
  writer.string(1, value.name);
  writer.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, DataType[value.type]);
      tensorType.message(2, (shape) => {
        for (const dim of value.dims) {
          shape.message(1, (dimension) => (typeof dim === 'number' ? dimension.int(1, dim) : dimension.string(2, dim)));
        }
      });
    }),
  );
}

/** Serializes a graph as an ONNX ModelProto. Raw tensor data is little-endian, as on every supported host. */
export function encodeModel(graph: Graph): Uint8Array {
  const model = new ProtobufWriter();
  model.int(1, IR_VERSION);
  model.string(2, 'passeurs');
  model.message(7, (writer) => {
    for (const node of graph.nodes) {
      writer.message(1, (nodeWriter) => {
        for (const input of node.inputs) nodeWriter.string(1, input);
        for (const output of node.outputs) nodeWriter.string(2, output);
        nodeWriter.string(4, node.op);
        for (const [name, value] of Object.entries(node.attributes)) {
          nodeWriter.message(5, (attribute) => writeAttribute(attribute, name, value, node.floatAttributes?.includes(name) ?? false));
        }
      });
    }
    writer.string(2, graph.name);
    for (const initializer of graph.initializers) writer.message(5, (tensor) => writeTensor(tensor, initializer));
    for (const input of graph.inputs) writer.message(11, (info) => writeValueInfo(info, input));
    for (const output of graph.outputs) writer.message(12, (info) => writeValueInfo(info, output));
  });
  model.message(8, (opset) => opset.string(1, '').int(2, ONNX_OPSET));
  return model.finish();
}
