// The auditor's split of the test set: a public part, which the vendor sees (the desired model is
// fit on it and the vendor reports its accuracy there), and a private part the vendor never sees.
// The split is random but seeded, and stratified: every class is cut in the same proportion.

import { defineStage } from '../pipeline/stage.js';
import { imageSetToTable, tableToImageSet, IMAGE_BYTES, type ImageSet } from '../data/tables.js';
import { seededUniform } from '../numerics/random.js';
import { stratifiedSplit } from '../numerics/audit/split.js';

function subset(images: ImageSet, positions: Int32Array): ImageSet {
  const pixels = new Uint8Array(positions.length * IMAGE_BYTES);
  positions.forEach((position, row) => pixels.set(images.pixels.subarray(position * IMAGE_BYTES, (position + 1) * IMAGE_BYTES), row * IMAGE_BYTES));
  return {
    count: positions.length,
    labels: Uint8Array.from(positions, (position) => images.labels[position]),
    pixels,
    indices: Int32Array.from(positions, (position) => images.indices[position]),
    classes: images.classes,
  };
}

export const splitTestSetStage = defineStage({
  name: 'split-test-set',
  version: 1,
  description: 'Splits the test images, class by class, into a public part (the vendor sees it) and a private part (the auditor keeps it)',
  params: {
    public_fraction: { type: 'number', default: 0.5, min: 0, max: 1, description: 'Share of each class that goes public (0.5: 5,000 / 5,000 on CIFAR-10)' },
    seed: { type: 'integer', default: 1, min: 0, description: 'Seed of the random draw within each class' },
  },
  inputs: {
    images: { kind: 'table', description: 'The test images' },
  },
  outputs: {
    public: { kind: 'table', description: 'The public test images, in their original order' },
    private: { kind: 'table', description: 'The private test images, in their original order' },
  },
  async run(inputs, params) {
    const images = tableToImageSet(inputs.images);
    if (!(params.public_fraction > 0 && params.public_fraction < 1)) {
      throw new Error(`split-test-set: public_fraction must be strictly between 0 and 1 (got ${params.public_fraction}); 0.5 gives equal parts`);
    }
    const split = stratifiedSplit(images.labels, params.public_fraction, seededUniform(params.seed));
    if (split.public.length === 0 || split.private.length === 0) {
      throw new Error(`split-test-set: ${images.count} images split into ${split.public.length} public and ${split.private.length} private; use more images or a public_fraction nearer 0.5`);
    }
    return { public: imageSetToTable(subset(images, split.public)), private: imageSetToTable(subset(images, split.private)) };
  },
});
