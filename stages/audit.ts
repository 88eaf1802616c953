// What an auditor holding a private part of the test set sees: for the fair model and every refit
// after the perturbation steps, accuracy on the public part (where the vendor reports it) and on
// the private part, the gap, its confidence interval and a one-sided exact test of "public exceeds
// private". Then how often the test flags an honest vendor (the fair model under random re-splits)
// and how many private images an auditor needs to flag a given inflation.

import { defineStage, type Coordinate, type JsonValue, type Metrics } from '../pipeline/stage.js';
import { tableToFeatureSet, type FeatureSet } from '../data/tables.js';
import { predict, tableToModel, type LinearSvmModel } from '../numerics/svm/index.js';
import { seededUniform } from '../numerics/random.js';
import { clopperPearsonInterval, fisherExactGreater, newcombeInterval, privateSizeNeeded, type Sample } from '../numerics/audit/proportions.js';
import { countFalseFlags, exactFalseFlagRate } from '../numerics/audit/false-flags.js';
import { AUDIT_INTERVAL, AUDIT_TEST, type AuditData, type AuditRow } from '../report/audit-tables.js';
import { DIRECTIONS, type Direction } from '../numerics/perturbation.js';

/** 1 where the model classifies the row correctly. */
function correctness(model: LinearSvmModel, set: FeatureSet, input: string): Uint8Array {
  if (set.dimension !== model.dimension) {
    throw new Error(`audit: input '${input}' has ${set.dimension} features per row but the models have ${model.dimension}: bind features of the same featurize settings`);
  }
  const predictions = predict(model, set);
  return predictions.map((predicted, i) => (predicted === set.labels[i] ? 1 : 0));
}

const sum = (values: Uint8Array) => values.reduce((total, value) => total + value, 0);

/** direction and k from a refit's matrix coordinates. */
function stepOf(coordinates: Readonly<Record<string, Coordinate>>, instance: string): { direction: Direction; k: number } {
  const { direction, k } = coordinates;
  if (!DIRECTIONS.includes(direction as Direction) || typeof k !== 'number' || !Number.isInteger(k) || k < 1) {
    throw new Error(
      `audit: input 'refits', instance '${instance}': expected matrix variables direction (${DIRECTIONS.join(' or ')}) and k (1, 2, ...), ` +
        `got ${JSON.stringify(coordinates)}; bind it to refits of a matrix over direction and k`,
    );
  }
  return { direction: direction as Direction, k };
}

export const auditStage = defineStage({
  name: 'audit',
  version: 2,
  description: 'Public against private test accuracy of every model, with an exact test; false flags of an honest vendor; the private sample size needed',
  params: {
    alpha: { type: 'number', default: 0.05, min: 0, max: 1, description: 'Level of the one-sided test: a model is flagged when p <= alpha' },
    confidence: { type: 'number', default: 0.95, min: 0, max: 1, description: 'Confidence of the two-sided interval of the gap' },
    false_flag_splits: { type: 'integer', default: 100, min: 1, description: 'Random public/private re-splits of the fair model' },
    seed: { type: 'integer', default: 2, min: 0, description: "Seed of the re-splits (another stream than split-test-set's default seed 1)" },
    inflations: { type: 'list', items: 'number', default: [1, 2, 3, 5, 10, 15], description: 'Inflations (points of accuracy) of the power table' },
    power: { type: 'number', default: 0.8, min: 0, max: 1, description: 'Power the auditor wants' },
    max_private: { type: 'integer', default: 100000, min: 1, description: 'Largest private sample searched in the power table' },
  },
  inputs: {
    fair: { kind: 'table', description: 'The fair model (trained on the clean training images)' },
    refits: { kind: 'table', many: true, description: 'The refits after each perturbation step, from a matrix over direction and k' },
    public: { kind: 'table', description: 'Features of the public test images' },
    private: { kind: 'table', description: 'Features of the private test images' },
  },
  outputs: {
    audit: { kind: 'json', description: 'Rows (model, accuracies, gap, interval, p-value, flagged), the false-flag study and the power table' },
    metrics: { kind: 'metrics', description: 'Gap and p-value per model, and the false-flag rate' },
  },
  async run(inputs, params, context) {
    const publicSet = tableToFeatureSet(inputs.public);
    const privateSet = tableToFeatureSet(inputs.private);
    const models = [
      { model: 'fair', direction: null, k: 0, weights: tableToModel(inputs.fair) },
      ...inputs.refits
        .map((item) => ({ ...stepOf(item.coordinates, item.instance), weights: tableToModel(item.value) }))
        .sort((a, b) => DIRECTIONS.indexOf(a.direction) - DIRECTIONS.indexOf(b.direction) || a.k - b.k)
        .map((step) => ({ model: `${step.direction} k=${step.k}`, ...step })),
    ];
    const answered = models.map((entry) => ({ ...entry, public: correctness(entry.weights, publicSet, 'public'), private: correctness(entry.weights, privateSet, 'private') }));
    const rows: AuditRow[] = answered.map(({ model, direction, k, public: publicAnswers, private: privateAnswers }) => {
      const publicSample: Sample = { correct: sum(publicAnswers), count: publicSet.count };
      const privateSample: Sample = { correct: sum(privateAnswers), count: privateSet.count };
      const pValue = fisherExactGreater(publicSample, privateSample);
      const [low, high] = newcombeInterval(publicSample, privateSample, params.confidence);
      const publicAccuracy = publicSample.correct / publicSample.count;
      const privateAccuracy = privateSample.correct / privateSample.count;
      return {
        model,
        direction,
        k,
        public_correct: publicSample.correct,
        public_count: publicSample.count,
        private_correct: privateSample.correct,
        private_count: privateSample.count,
        public_accuracy: publicAccuracy,
        private_accuracy: privateAccuracy,
        gap_points: (publicAccuracy - privateAccuracy) * 100,
        gap_interval_points: [low * 100, high * 100],
        p_value: pValue,
        flagged: pValue <= params.alpha,
      };
    });

    // The honest vendor: the fair model's answers on all test images, re-split at random.
    const answers = new Uint8Array(publicSet.count + privateSet.count);
    answers.set(answered[0].public);
    answers.set(answered[0].private, publicSet.count);
    const labels = new Uint8Array(answers.length);
    labels.set(publicSet.labels);
    labels.set(privateSet.labels, publicSet.count);
    const publicFraction = publicSet.count / answers.length;
    const flags = countFalseFlags(answers, labels, publicFraction, params.false_flag_splits, params.alpha, seededUniform(params.seed));
    const [rateLow, rateHigh] = clopperPearsonInterval({ correct: flags.flagged, count: flags.splits }, params.confidence);

    const honestAccuracy = sum(answers) / answers.length;
    const powerRows = params.inflations.map((points, index) => {
      context.progress(index, params.inflations.length, 'inflations');
      if (honestAccuracy + points / 100 > 1) return { inflation_points: points, private_count: null, power: null };
      const needed = privateSizeNeeded(publicSet.count, honestAccuracy, points / 100, params.alpha, params.power, params.max_private);
      return { inflation_points: points, private_count: needed.privateCount, power: needed.power };
    });

    const audit: AuditData = {
      test: AUDIT_TEST,
      interval: AUDIT_INTERVAL,
      alpha: params.alpha,
      confidence: params.confidence,
      rows,
      false_flags: {
        model: 'fair',
        splits: flags.splits,
        flagged: flags.flagged,
        rate: flags.flagged / flags.splits,
        rate_interval: [rateLow, rateHigh],
        exact_rate: exactFalseFlagRate(answers, labels, publicFraction, params.alpha),
        public_fraction: publicFraction,
      },
      power: {
        target_power: params.power,
        public_count: publicSet.count,
        honest_accuracy: honestAccuracy,
        max_private: params.max_private,
        rows: powerRows,
      },
    };
    const metrics: Metrics = { false_flag_rate: flags.flagged / flags.splits, false_flag_exact_rate: audit.false_flags.exact_rate };
    for (const row of rows) {
      metrics[`${row.model}/gap_points`] = row.gap_points;
      metrics[`${row.model}/p_value`] = row.p_value;
    }
    return { audit: audit as unknown as JsonValue, metrics };
  },
});
