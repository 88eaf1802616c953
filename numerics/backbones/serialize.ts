// A backbone description as one file (the backbone stage's blob): safetensors, with every
// weight array stored as the tensor '<layer name>/<field>' and the rest of the description
// (name, input scaling, layers without their arrays) as JSON in the metadata entry 'backbone'.
// Same description, same bytes.

import type { BackboneDescription, Layer } from './description.js';
import { readSafetensors, writeSafetensors, type Tensor } from './safetensors.js';

const FORMAT = 'passeurs-backbone-1';

export function encodeBackbone(backbone: BackboneDescription): Uint8Array {
  const tensors = new Map<string, Tensor>();
  const layers = backbone.layers.map((layer) => {
    const plain: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(layer)) {
      if (value instanceof Float32Array) tensors.set(`${layer.name}/${field}`, { shape: [value.length], values: value });
      else if (value !== undefined) plain[field] = value;
    }
    return plain;
  });
  const description = { name: backbone.name, input: backbone.input, layers };
  return writeSafetensors(tensors, { format: FORMAT, backbone: JSON.stringify(description) });
}

export function decodeBackbone(bytes: Uint8Array): BackboneDescription {
  const { tensors, metadata } = readSafetensors(bytes, 'backbone blob');
  if (metadata.format !== FORMAT) throw new Error(`backbone blob has format '${metadata.format}', expected '${FORMAT}': rerun the backbone stage`);
  const description = JSON.parse(metadata.backbone) as { name: string; input: BackboneDescription['input']; layers: Record<string, unknown>[] };
  const layers = description.layers.map((plain) => {
    const layer: Record<string, unknown> = { ...plain };
    const prefix = `${String(plain.name)}/`;
    for (const [name, tensor] of tensors) if (name.startsWith(prefix) && !name.slice(prefix.length).includes('/')) layer[name.slice(prefix.length)] = tensor.values;
    return layer as unknown as Layer;
  });
  return { name: description.name, input: description.input, layers };
}
