// Engine throughput: images/s and GFLOP/s for features (forward) and for features plus the input
// gradient of a linear head's softmax cross-entropy, on the ONNX and tfjs engines.
//
//   npx tsc -p . && node dist/bench/featurize.js [--models models] [--engines onnx,tfjs]
//       [--seconds 4] [--batch 64] [--threads 2] [--json]
//
// --json prints one JSON object instead of the table: { batch, threads, seconds, rows: [...] }, one
// row per setting and engine with input_size, feature_layer, forward_images_per_s and
// gradient_images_per_s (and the rest of the table's columns).
//
// Backbones: MobileNet v1 0.75 (ImageNet weights) at the main config's setting (input 32,
// conv_pw_5_relu), and at input 64 (32x32 images resized inside the network) cut at four layers,
// and VGG16-conv4_1 with generated weights at 32. Pixels are
// seeded random bytes: the work does not depend on the pixel values.
//
// FLOPs are counted from the backbone description: 2 x the multiply-adds of the convolutions up to
// the feature layer (batch norm, activations, pooling and the resize are left out). Forward plus
// input gradient is counted as 3 x forward (the backward pass as 2 x forward), the usual
// convention, although an input gradient alone needs no filter gradients.

import { benchOptions } from './options.js';
import { layersUpTo, type BackboneDescription } from '../numerics/backbones/description.js';
import { loadMobileNet } from '../numerics/backbones/mobilenet.js';
import { randomVgg16 } from '../numerics/backbones/vgg16.js';
import { seededUniform } from '../numerics/random.js';
import type { EngineOptions, FeatureEngine, LinearHead } from '../numerics/engines/engine.js';
import { createEngine } from '../numerics/engines/index.js';
import { TfjsEngine } from '../numerics/engines/tfjs-engine.js';

const USAGE = 'usage: node dist/bench/featurize.js [--models models] [--engines onnx,tfjs] [--seconds 4] [--batch 64] [--threads 2] [--json]';
const args = benchOptions(
  {
    models: { type: 'string', default: 'models' },
    engines: { type: 'string', default: 'onnx,tfjs' },
    seconds: { type: 'string', default: '4' },
    batch: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
  USAGE,
);
const SECONDS = Number(args.seconds);
const BATCH = Number(args.batch);
const THREADS = Number(args.threads);
const ENGINES = args.engines.split(',');
const CLASSES = 10;

/** 2 x multiply-adds of the convolutions up to the feature layer, per image. */
function forwardFlops(backbone: BackboneDescription, featureLayer: string, inputSize: number): number {
  let multiplyAdds = 0;
  for (const { layer, output } of layersUpTo(backbone, featureLayer, inputSize)) {
    const [height, width, channels] = output;
    if (layer.kind === 'conv2d') multiplyAdds += height * width * channels * layer.kernelSize[0] * layer.kernelSize[1] * layer.inChannels;
    if (layer.kind === 'depthwiseConv2d') multiplyAdds += height * width * channels * layer.kernelSize[0] * layer.kernelSize[1];
  }
  return 2 * multiplyAdds;
}

interface Setting {
  backbone: BackboneDescription;
  label: string;
  featureLayer: string;
  inputSize: number;
}

async function openEngine(kind: string, backbone: BackboneDescription, options: EngineOptions): Promise<{ engine: FeatureEngine; label: string }> {
  const engine = await createEngine(kind, backbone, options);
  if (!(engine instanceof TfjsEngine)) return { engine, label: options.threads > 1 ? `${kind}, ${options.threads} single-threaded sessions` : `${kind}, 1 thread` };
  return { engine, label: engine.backend === 'wasm' ? 'tfjs wasm (SIMD, 1 thread)' : 'tfjs-node' };
}

interface Throughput {
  imagesPerSecond: number;
  /** Process CPU seconds per wall second: how many cores it got (others' load lowers it). */
  coresUsed: number;
}

/** Images per engine call: one batch per thread, as the stages' chunks give a pool of single-threaded sessions. */
const CALL = BATCH * THREADS;

/** Throughput of `run` on CALL images, after one warm-up call, over about SECONDS. */
async function measure(run: () => Promise<unknown>): Promise<Throughput> {
  await run();
  let batches = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  while (batches < 2 || performance.now() - start < SECONDS * 1000) {
    await run();
    batches++;
  }
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  return { imagesPerSecond: (batches * CALL) / seconds, coresUsed: (cpu.user + cpu.system) / 1e6 / seconds };
}

async function main(): Promise<void> {
  const mobileNet = await loadMobileNet(args.models);
  const vgg = randomVgg16(1);
  const settings: Setting[] = [
    { backbone: mobileNet, label: 'MobileNet v1 0.75', featureLayer: 'conv_pw_5_relu', inputSize: 32 },
    ...['conv_pw_7_relu', 'conv_pw_11_relu', 'conv_pw_13_relu', 'global_average_pooling2d_1'].map((featureLayer) => ({
      backbone: mobileNet,
      label: 'MobileNet v1 0.75',
      featureLayer,
      inputSize: 64,
    })),
    { backbone: vgg, label: 'VGG16 (generated weights)', featureLayer: 'conv4_1', inputSize: 32 },
  ];
  const uniform = seededUniform(42);
  const pixels = Uint8Array.from({ length: CALL * 3072 }, () => Math.floor(256 * uniform()));
  const labels = Uint8Array.from({ length: CALL }, (_, i) => i % CLASSES);

  const rows: string[] = [];
  const records: Record<string, string | number>[] = [];
  for (const setting of settings) {
    const flops = forwardFlops(setting.backbone, setting.featureLayer, setting.inputSize);
    for (const engineName of ENGINES) {
      const options: EngineOptions = { featureLayer: setting.featureLayer, inputSize: setting.inputSize, threads: THREADS, batchSize: BATCH };
      const { engine, label } = await openEngine(engineName, setting.backbone, options);
      const head: LinearHead = {
        classes: CLASSES,
        dimension: engine.dimension,
        weights: Float32Array.from({ length: CLASSES * engine.dimension }, () => (2 * uniform() - 1) / Math.sqrt(engine.dimension)),
        bias: new Float32Array(CLASSES),
      };
      const forward = await measure(() => engine.features(pixels, CALL));
      const withGradient = await measure(() => engine.lossGradient(pixels, labels, CALL, head));
      await engine.dispose();
      const row = [
        setting.label,
        setting.featureLayer,
        String(setting.inputSize),
        (flops / 1e9).toFixed(3),
        label,
        forward.imagesPerSecond.toFixed(0),
        ((forward.imagesPerSecond * flops) / 1e9).toFixed(1),
        withGradient.imagesPerSecond.toFixed(0),
        ((withGradient.imagesPerSecond * 3 * flops) / 1e9).toFixed(1),
        `${forward.coresUsed.toFixed(2)}, ${withGradient.coresUsed.toFixed(2)}`,
      ];
      records.push({
        backbone: setting.label,
        feature_layer: setting.featureLayer,
        input_size: setting.inputSize,
        gflop_per_image: flops / 1e9,
        engine: label,
        forward_images_per_s: forward.imagesPerSecond,
        forward_gflop_per_s: (forward.imagesPerSecond * flops) / 1e9,
        gradient_images_per_s: withGradient.imagesPerSecond,
        gradient_gflop_per_s: (withGradient.imagesPerSecond * 3 * flops) / 1e9,
        forward_cores_used: forward.coresUsed,
        gradient_cores_used: withGradient.coresUsed,
      });
      console.error(row.join(' | '));
      rows.push(`| ${row.join(' | ')} |`);
    }
  }
  if (args.json) {
    console.log(JSON.stringify({ batch: BATCH, threads: THREADS, seconds: SECONDS, rows: records }, null, 2));
    return;
  }
  console.log(
    [
      '| backbone | feature layer | input | GFLOP/image (forward) | engine | forward img/s | forward GFLOP/s | forward + input gradient img/s | forward + input gradient GFLOP/s | cores used (forward, gradient) |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `Batches of ${BATCH} images, ${THREADS} per call, about ${SECONDS} s per measurement after one warm-up call. FLOPs: 2 x the convolutions' multiply-adds`,
      'up to the feature layer; forward + input gradient counted as 3 x forward. Cores used: process CPU time / wall time',
      '(below the engine\'s thread count when other processes share the cores).',
    ].join('\n'),
  );
}

await main();
