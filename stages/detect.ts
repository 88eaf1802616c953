// Can the delivered training set itself give the cheat away? The perturbation moves almost every
// pixel by ±1 level, the signature of ±1 ("LSB matching") steganography. A blind detector, SPAM
// features and a linear SVM, is trained on the auditor's own clean images against the same images
// perturbed toward a model the auditor made up; it then scores the vendor's delivered training
// images against their clean originals. The ROC AUC says how well it tells them apart.

import { defineStage, type JsonValue, type Metrics } from '../pipeline/stage.js';
import { IMAGE_BYTES, tableToImageSet, type ImageSet } from '../data/tables.js';
import { spamFeatures, SPAM_DIMENSION } from '../numerics/audit/spam.js';
import { detectorScores, trainDetector } from '../numerics/audit/detector.js';
import { rocAuc, rocCurve } from '../numerics/audit/roc.js';
import { describeFit, solverUsesAllCores, svmParamSchema, svmParams } from './svm-params.js';
import type { Detection } from '../report/audit-tables.js';

function checkPairs(clean: ImageSet, perturbed: ImageSet, names: string): void {
  const same = clean.count === perturbed.count && clean.indices.every((index, i) => index === perturbed.indices[i]);
  if (!same) throw new Error(`detect: inputs ${names} must be the same images, clean and perturbed (same count and indices)`);
}

/** SPAM features of images [from, to). */
const spamOf = (images: ImageSet, from: number, to: number) => spamFeatures(images.pixels.subarray(from * IMAGE_BYTES, to * IMAGE_BYTES), to - from);

/** Scores of clean then perturbed rows, and which are perturbed. */
function scored(scores: (features: Float32Array) => Float64Array, clean: Float32Array, perturbed: Float32Array) {
  const all = new Float32Array(clean.length + perturbed.length);
  all.set(clean);
  all.set(perturbed, clean.length);
  const positive = new Uint8Array(all.length / SPAM_DIMENSION).fill(1, clean.length / SPAM_DIMENSION);
  return { scores: scores(all), positive };
}

export const detectStage = defineStage({
  name: 'detect',
  version: 1,
  description: "A blind ±1 steganalysis detector (SPAM features, linear SVM) trained on the auditor's images, scored on the vendor's delivered ones",
  allCores: solverUsesAllCores,
  params: {
    ...svmParamSchema,
    solver: { ...svmParamSchema.solver, default: 'primal-newton' as const },
    auditor_images: { type: 'integer', default: 5000, min: 2, description: "Clean/perturbed pairs of the auditor's images used (the first ones)" },
    held_out_fraction: { type: 'number', default: 0.2, min: 0, max: 1, description: "Share of those pairs kept out of training, to check the detector on the auditor's own kind of perturbation" },
    eval_images: { type: 'integer', default: 5000, min: 1, description: "Delivered/original pairs of the vendor's training images scored (the first ones)" },
  },
  inputs: {
    auditor_clean: { kind: 'table', description: "The auditor's clean images" },
    auditor_perturbed: { kind: 'table', description: 'The same images perturbed toward the made-up model' },
    vendor_original: { kind: 'table', description: "The vendor's clean training images" },
    vendor_delivered: { kind: 'table', description: 'The training images the vendor delivers (perturbed)' },
  },
  outputs: {
    detection: { kind: 'json', description: 'ROC AUC on the delivered images and on held-out auditor images, the ROC curve, the sample sizes' },
    metrics: { kind: 'metrics', description: 'auc and held_out_auc' },
  },
  async run(inputs, params, context) {
    const auditorClean = tableToImageSet(inputs.auditor_clean);
    const auditorPerturbed = tableToImageSet(inputs.auditor_perturbed);
    const original = tableToImageSet(inputs.vendor_original);
    const delivered = tableToImageSet(inputs.vendor_delivered);
    checkPairs(auditorClean, auditorPerturbed, "'auditor_clean' and 'auditor_perturbed'");
    checkPairs(original, delivered, "'vendor_original' and 'vendor_delivered'");

    const pairs = Math.min(params.auditor_images, auditorClean.count);
    const heldOut = Math.round(pairs * params.held_out_fraction);
    const training = pairs - heldOut;
    if (training < 1) throw new Error(`detect: ${pairs} auditor pairs with held_out_fraction ${params.held_out_fraction} leave none to train on; lower held_out_fraction`);
    const detector = await trainDetector(spamOf(auditorClean, 0, training), spamOf(auditorPerturbed, 0, training), SPAM_DIMENSION, svmParams(params), {
      threads: context.threads,
      signal: context.signal,
      what: 'detect: SPAM features of the auditor images',
    });
    context.log(`detector: ${describeFit(detector.model)}`);
    const scores = (features: Float32Array) => detectorScores(detector, features);

    let heldOutAuc: number | null = null;
    if (heldOut > 0) {
      const own = scored(scores, spamOf(auditorClean, training, pairs), spamOf(auditorPerturbed, training, pairs));
      heldOutAuc = rocAuc(own.scores, own.positive);
    }
    const evaluated = Math.min(params.eval_images, original.count);
    const vendor = scored(scores, spamOf(original, 0, evaluated), spamOf(delivered, 0, evaluated));
    const auc = rocAuc(vendor.scores, vendor.positive);
    const detection: Detection = {
      auc,
      held_out_auc: heldOutAuc,
      training_pairs: training,
      held_out_pairs: heldOut,
      evaluated_pairs: evaluated,
      roc: rocCurve(vendor.scores, vendor.positive).map((point) => [point.falsePositiveRate, point.truePositiveRate]),
    };
    const metrics: Metrics = { auc };
    if (heldOutAuc !== null) metrics.held_out_auc = heldOutAuc;
    return { detection: detection as unknown as JsonValue, metrics };
  },
});
