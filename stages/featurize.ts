// featurize: the frozen backbone's activations at one layer for every image, as a feature table.

import { defineStage } from '../pipeline/stage.js';
import { imageFeaturesToTable, tableToImageSet, IMAGE_BYTES } from '../data/tables.js';
import { decodeBackbone } from '../numerics/backbones/serialize.js';
import { createEngine, ENGINE_KINDS } from '../numerics/engines/index.js';

/** Batches per engine call (the engine spreads them over its threads), progress report and cancellation check. */
const CHUNK_BATCHES = 4;

export const featurizeStage = defineStage({
  name: 'featurize',
  version: 2,
  description: "A frozen CNN layer's activations for each image (labels kept)",
  allCores: true,
  params: {
    input_size: { type: 'integer', default: 64, min: 1, description: 'Side the 32x32 images are bilinearly resized to inside the network (32: no resize)' },
    feature_layer: { type: 'string', description: 'Backbone layer whose activations, flattened in HWC order, are the features (e.g. conv_pw_13_relu, global_average_pooling2d_1, conv4_1)' },
    batch_size: { type: 'integer', default: 100, min: 1, description: 'Images per engine call' },
    engine: { type: 'enum', values: ENGINE_KINDS, default: 'onnx', description: 'Compute engine' },
  },
  inputs: {
    images: { kind: 'table', description: 'Labelled 32x32 RGB images' },
    backbone: { kind: 'blob', description: 'The frozen feature extractor (backbone stage)' },
  },
  outputs: {
    features: { kind: 'table', description: 'Labels and float32 feature vectors, with backbone, layer and input size in the metadata' },
  },
  async run(inputs, params, context) {
    const images = tableToImageSet(inputs.images);
    const backbone = decodeBackbone(inputs.backbone.bytes);
    const engine = await createEngine(params.engine, backbone, {
      inputSize: params.input_size,
      featureLayer: params.feature_layer,
      threads: context.threads,
      batchSize: params.batch_size,
    });
    try {
      const features = new Float32Array(images.count * engine.dimension);
      const chunk = params.batch_size * CHUNK_BATCHES;
      const started = performance.now();
      context.progress(0, images.count, 'images');
      for (let start = 0; start < images.count; start += chunk) {
        context.signal.throwIfAborted();
        const count = Math.min(chunk, images.count - start);
        const pixels = images.pixels.subarray(start * IMAGE_BYTES, (start + count) * IMAGE_BYTES);
        features.set(await engine.features(pixels, count), start * engine.dimension);
        context.progress(start + count, images.count, 'images');
      }
      const seconds = (performance.now() - started) / 1000;
      context.log(`${images.count} images, ${engine.dimension} features each, ${(images.count / seconds).toFixed(0)} images/s (${params.engine}, ${context.threads} threads)`);
      return {
        features: imageFeaturesToTable(images, features, engine.dimension, {
          backbone: backbone.name,
          feature_layer: params.feature_layer,
          input_size: params.input_size,
          engine: params.engine,
        }),
      };
    } finally {
      await engine.dispose();
    }
  },
});
