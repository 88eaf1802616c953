import { noStatCache, readOutsidePath } from '../pipeline/outside.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { tableToFeatureSet, tableToImageSet, imageSetToTable } from '../data/tables.js';
import type { StageContext } from '../pipeline/stage.js';
import type { BackboneDescription } from '../numerics/backbones/description.js';
import { loadMobileNet } from '../numerics/backbones/mobilenet.js';
import { writeSafetensors } from '../numerics/backbones/safetensors.js';
import { decodeBackbone } from '../numerics/backbones/serialize.js';
import { sha256Hex } from '../numerics/backbones/tfjs-layers.js';
import { randomVgg16, vgg16Tensors } from '../numerics/backbones/vgg16.js';
import { OnnxEngine } from '../numerics/engines/onnx-engine.js';
import { backboneStage } from '../stages/backbone.js';
import { featurizeStage } from '../stages/featurize.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';
import { MODELS } from './support/test-images.js';

/** The description with each weight array replaced by a hash of its bytes (deep equality on millions of floats is slow). */
function fingerprint(backbone: BackboneDescription): unknown {
  return {
    ...backbone,
    layers: backbone.layers.map((layer) =>
      Object.fromEntries(Object.entries(layer).map(([key, value]) => [key, value instanceof Float32Array ? sha256Hex(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) : value])),
    ),
  };
}

function testContext(): StageContext & { reports: [number, number, string][] } {
  const reports: [number, number, string][] = [];
  return { reports, progress: (done, total, unit) => reports.push([done, total, unit]), log: () => {}, signal: new AbortController().signal, threads: 2 };
}

const backboneParams = { model: 'mobilenet_v1_0.75_224', format: 'tfjs-layers', input_scaling: 'model-default', sha256: '', seed: 1 } as const;
/** The model's files as the engine hands them over. */
const filesAt = (path: string) => readOutsidePath({ path, written: path }, noStatCache).value;
const mobileNetFiles = filesAt(join(MODELS, 'mobilenet_v1_0.75_224'));

describe('backbone stage', () => {
  test('hands on the verified MobileNet as a blob that decodes to the same description, byte-identical on reruns', async () => {
    const first = await backboneStage.run({ files: mobileNetFiles }, backboneParams, testContext());
    const second = await backboneStage.run({ files: mobileNetFiles }, backboneParams, testContext());
    expect(Buffer.compare(first.backbone.bytes, second.backbone.bytes)).toBe(0);
    expect(fingerprint(decodeBackbone(first.backbone.bytes))).toEqual(fingerprint(await loadMobileNet(MODELS)));
  });

  test('says which files it needs when none are bound, and refuses a single file as a tfjs layers model', async () => {
    await expect(backboneStage.run({}, backboneParams, testContext())).rejects.toThrow(/needs the model's files: bind `inputs: \{ files: \{ path/);
    const modelJson = filesAt(join(MODELS, 'mobilenet_v1_0.75_224', 'model.json'));
    await expect(backboneStage.run({ files: modelJson }, backboneParams, testContext())).rejects.toThrow(/a tfjs layers model is a folder/);
  });

  test('names a weight file that model.json lists but the folder lacks', async () => {
    const files = new Map(mobileNetFiles.files);
    files.delete('group3-shard1of1');
    await expect(backboneStage.run({ files: { ...mobileNetFiles, files } }, backboneParams, testContext())).rejects.toThrow(/no weight file group3-shard1of1, which model.json lists/);
  });

  test('refuses weights whose sha256 is not the expected one', async () => {
    await expect(backboneStage.run({ files: mobileNetFiles }, { ...backboneParams, sha256: 'f'.repeat(64) }, testContext())).rejects.toThrow(/sha256 is a74c2542.*expected ffff/);
  });

  test('reads VGG16 weights from a safetensors file in torchvision layout', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'passeurs-vgg-'));
    try {
      const generated = randomVgg16(3);
      await writeFile(join(folder, 'vgg16_conv4_1.safetensors'), writeSafetensors(vgg16Tensors(generated), { input_scaling: 'caffe' }));
      const { backbone } = await backboneStage.run({ files: filesAt(join(folder, 'vgg16_conv4_1.safetensors')) }, { ...backboneParams, model: 'vgg16_conv4_1', format: 'vgg16-safetensors' }, testContext());
      const decoded = decodeBackbone(backbone.bytes);
      expect(fingerprint({ ...decoded, input: generated.input, name: generated.name })).toEqual(fingerprint(generated));
      expect(decoded.input.channelOrder).toBe('bgr');
    } finally {
      await rm(folder, { recursive: true });
    }
  });
});

describe('featurize stage', () => {
  test('gives MobileNet global-pool features of real CIFAR images at input 64, with provenance, in partial batches', async () => {
    const { test: testSet } = loadMiniCifar();
    const count = 20;
    const images = { ...testSet, count, labels: testSet.labels.subarray(0, count), pixels: testSet.pixels.subarray(0, count * 3072), indices: testSet.indices.subarray(0, count) };
    const { backbone } = await backboneStage.run({ files: mobileNetFiles }, backboneParams, testContext());
    const context = testContext();
    const params = { input_size: 64, feature_layer: 'global_average_pooling2d_1', batch_size: 8, engine: 'onnx' } as const;
    const { features: table } = await featurizeStage.run({ images: imageSetToTable(images), backbone }, params, context);
    const features = tableToFeatureSet(table);

    expect(features.count).toBe(count);
    expect(features.dimension).toBe(768);
    expect(Array.from(features.labels)).toEqual(Array.from(tableToImageSet(imageSetToTable(images)).labels));
    expect(features.classes).toEqual(testSet.classes);
    expect(features.description).toMatchObject({ backbone: 'mobilenet_v1_0.75_224', feature_layer: 'global_average_pooling2d_1', input_size: '64', engine: 'onnx' });
    expect(context.reports.at(-1)).toEqual([count, count, 'images']);

    const engine = new OnnxEngine(await loadMobileNet(MODELS), { inputSize: 64, featureLayer: 'global_average_pooling2d_1', threads: 2, batchSize: count });
    const direct = await engine.features(images.pixels, count);
    await engine.dispose();
    const scale = Math.max(...direct);
    expect(scale).toBeGreaterThan(0.1);
    features.features.forEach((value, i) => expect(Math.abs(value - direct[i])).toBeLessThan(1e-5 * scale));
    const nonzero = features.features.filter((value) => value > 0).length / features.features.length;
    expect(nonzero).toBeGreaterThan(0.05);
  });
});
