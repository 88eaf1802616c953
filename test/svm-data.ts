// Feature sets for the SVM tests.
//
// cifarCropFeatures: real CIFAR-10 pixels (test/fixtures/cifar10-mini), made numerous enough for
// a 0.1 % agreement test by taking 16x16 crops at 25 offsets of each image, averaged 2x2 down
// to 8x8x3 = 192 features in [0, 1]; crops of one image stay in one split. Until the featurize
// stage caches real CNN features, these and the synthetic ReLU features of
// numerics/svm/synthetic-features.ts stand in for them.

import type { FeatureSet, ImageSet } from '../data/tables.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';

const CROP = 16;
const STRIDE = 4;
const OFFSETS = (32 - CROP) / STRIDE + 1;

function cropFeatures(images: ImageSet, source: string): FeatureSet {
  const side = CROP / 2;
  const dimension = side * side * 3;
  const count = images.count * OFFSETS * OFFSETS;
  const features = new Float32Array(count * dimension);
  const labels = new Uint8Array(count);
  let row = 0;
  for (let image = 0; image < images.count; image++) {
    const pixels = images.pixels.subarray(image * 3072, (image + 1) * 3072);
    for (let oy = 0; oy < 32 - CROP + 1; oy += STRIDE) {
      for (let ox = 0; ox < 32 - CROP + 1; ox += STRIDE) {
        labels[row] = images.labels[image];
        for (let y = 0; y < side; y++) {
          for (let x = 0; x < side; x++) {
            for (let c = 0; c < 3; c++) {
              let sum = 0;
              for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) sum += pixels[((oy + 2 * y + dy) * 32 + ox + 2 * x + dx) * 3 + c];
              features[row * dimension + (y * side + x) * 3 + c] = sum / (4 * 255);
            }
          }
        }
        row++;
      }
    }
  }
  return { count, dimension, labels, features, classes: images.classes, description: { source } };
}

export function cifarCropFeatures(): { train: FeatureSet; test: FeatureSet } {
  const { train, test } = loadMiniCifar();
  return {
    train: cropFeatures(train, 'cifar10-mini train: 16x16 crops, 2x2 mean, /255'),
    test: cropFeatures(test, 'cifar10-mini test: 16x16 crops, 2x2 mean, /255'),
  };
}
