// MobileNet v1 (alpha 0.75, ImageNet, 224) as published in tfjs-models, from its tfjs layers files.

import { join } from 'node:path';
import { INPUT_SCALINGS, type BackboneDescription } from './description.js';
import { loadTfjsLayersModel } from './tfjs-layers.js';

export const MOBILENET_V1_075_224 = 'mobilenet_v1_0.75_224';
export const MOBILENET_MODEL_JSON_SHA256 = 'a74c25424bd9939b1c245a58da417e35d1ca16f0b009490a1c44b43d982600d9';

/** Keras MobileNet's preprocessing: RGB, x / 127.5 - 1. */
export const MINUS_ONE_TO_ONE = INPUT_SCALINGS['minus-one-to-one'];

/** Loads source/mobilenet_v1_0.75_224/ (model.json verified by sha256). */
export function loadMobileNet(source: string): Promise<BackboneDescription> {
  return loadTfjsLayersModel(join(source, MOBILENET_V1_075_224), {
    name: MOBILENET_V1_075_224,
    input: MINUS_ONE_TO_ONE,
    modelJsonSha256: MOBILENET_MODEL_JSON_SHA256,
  });
}
