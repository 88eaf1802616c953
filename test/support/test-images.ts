// Real photographs for tests: the three 224x224 ImageNet test images (test/fixtures/imagenet),
// and 32x32 versions of them (7x7 block means, rounded). MODELS is the project's shipped models folder.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const MODELS = join(import.meta.dirname, '..', '..', 'models');
const IMAGES = join(import.meta.dirname, '..', 'fixtures', 'imagenet');
export const TEST_IMAGE_NAMES = ['parrot', 'hot_dog', 'bird'] as const;

export function testImage224(name: (typeof TEST_IMAGE_NAMES)[number]): Uint8Array {
  return new Uint8Array(readFileSync(join(IMAGES, `${name}.rgb`)));
}

export function testImage32(name: (typeof TEST_IMAGE_NAMES)[number]): Uint8Array {
  const large = testImage224(name);
  const small = new Uint8Array(32 * 32 * 3);
  for (let y = 0; y < 32; y++)
    for (let x = 0; x < 32; x++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < 7; dy++) for (let dx = 0; dx < 7; dx++) sum += large[((y * 7 + dy) * 224 + x * 7 + dx) * 3 + c];
        small[(y * 32 + x) * 3 + c] = Math.round(sum / 49);
      }
  return small;
}
