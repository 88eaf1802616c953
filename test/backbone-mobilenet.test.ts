import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { featureDimension } from '../numerics/backbones/description.js';
import { loadMobileNet, MOBILENET_V1_075_224 } from '../numerics/backbones/mobilenet.js';
import { loadTfjsLayersModel } from '../numerics/backbones/tfjs-layers.js';
import { OnnxEngine } from '../numerics/engines/onnx-engine.js';
import { MODELS, TEST_IMAGE_NAMES, testImage224 } from './support/test-images.js';

describe('MobileNet v1 0.75 from its tfjs layers files', () => {
  test('has the Keras layers and 2,601,976 parameters', async () => {
    const backbone = await loadMobileNet(MODELS);
    let parameters = 0;
    for (const layer of backbone.layers) {
      if (layer.kind === 'conv2d' || layer.kind === 'depthwiseConv2d') parameters += layer.kernel.length + (layer.bias?.length ?? 0);
      if (layer.kind === 'batchNorm') parameters += 4 * layer.gamma.length;
    }
    expect(parameters).toBe(2_601_976);
    expect(featureDimension(backbone, 'conv_pw_13_relu', 224)).toBe(7 * 7 * 768);
    expect(featureDimension(backbone, 'global_average_pooling2d_1', 64)).toBe(768);
    expect(featureDimension(backbone, 'conv_pw_7_relu', 64)).toBe(4 * 4 * 384);
  });

  test('refuses a model.json whose sha256 differs', async () => {
    await expect(
      loadTfjsLayersModel(join(MODELS, MOBILENET_V1_075_224), {
        name: 'x',
        input: { channelOrder: 'rgb', scale: [1, 1, 1], offset: [0, 0, 0] },
        modelJsonSha256: '0'.repeat(64),
      }),
    ).rejects.toThrow(/sha256 is a74c2542/);
  });

  test('classifies the three ImageNet test images (macaw, hotdog, chickadee) through the ONNX engine', async () => {
    const backbone = await loadMobileNet(MODELS);
    const { labels } = JSON.parse(await readFile(join(MODELS, MOBILENET_V1_075_224, 'metadata.json'), 'utf8')) as { labels: string[] };
    const pixels = new Uint8Array(TEST_IMAGE_NAMES.flatMap((name) => [...testImage224(name)]));
    const engine = new OnnxEngine(backbone, { imageSize: 224, inputSize: 224, featureLayer: 'conv_preds', threads: 2, batchSize: 2 });
    const logits = await engine.features(pixels, 3);
    await engine.dispose();
    const top1 = TEST_IMAGE_NAMES.map((_, image) => {
      const row = logits.subarray(image * 1000, (image + 1) * 1000);
      return labels[row.indexOf(Math.max(...row))];
    });
    expect(top1[0]).toMatch(/^macaw/);
    expect(top1[1]).toMatch(/^hotdog/);
    expect(top1[2]).toMatch(/^chickadee/);
  });
});
