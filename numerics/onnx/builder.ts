// Incremental construction of an ONNX graph: each node call returns its output's name.

import type { AttributeValue, ElementType, Graph, Initializer, Node, ValueInfo } from './model.js';

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(private readonly name: string) {}

  /** A fresh value name that carries a readable hint (the layer it belongs to). */
  private fresh(hint: string): string {
    return `${hint}:${this.counter++}`;
  }

  input(name: string, type: ElementType, dims: readonly (number | string)[]): string {
    this.inputs.push({ name, type, dims });
    return name;
  }

  output(value: string, name: string, type: ElementType, dims: readonly (number | string)[]): void {
    this.nodes.push({ op: 'Identity', inputs: [value], outputs: [name], attributes: {} });
    this.outputs.push({ name, type, dims });
  }

  floats(hint: string, dims: readonly number[], values: Float32Array): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, type: 'float', dims, values });
    return name;
  }

  /** An int64 vector constant (shapes, axes, pads), shared between uses of the same values. */
  ints(values: readonly number[]): string {
    const key = `ints[${values.join(',')}]`;
    let name = this.constants.get(key);
    if (!name) {
      name = key;
      this.initializers.push({ name, type: 'int64', dims: [values.length], values: BigInt64Array.from(values.map(BigInt)) });
      this.constants.set(key, name);
    }
    return name;
  }

  /** A float scalar constant, shared between uses of the same value. */
  scalar(value: number): string {
    const key = `scalar[${value}]`;
    let name = this.constants.get(key);
    if (!name) {
      name = key;
      this.initializers.push({ name, type: 'float', dims: [], values: Float32Array.of(value) });
      this.constants.set(key, name);
    }
    return name;
  }

  node(op: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, hint = op, floatAttributes?: readonly string[]): string {
    const output = this.fresh(hint);
    this.nodes.push({ op, inputs, outputs: [output], attributes, floatAttributes });
    return output;
  }

  /** A node with several outputs, returned in order. */
  nodeOutputs(op: string, inputs: readonly string[], attributes: Record<string, AttributeValue>, count: number, hint = op): string[] {
    const outputs = Array.from({ length: count }, () => this.fresh(hint));
    this.nodes.push({ op, inputs, outputs, attributes });
    return outputs;
  }

  build(): Graph {
    return { name: this.name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs };
  }
}
