// The report's data model: one row per perturbation setting (method, direction, budget, k),
// pairing each evaluation with its perturbation statistics by equal matrix coordinates. The
// coordinates are data: they come from the producing instances' matrix variables and from the
// perturbation statistics, never from instance names, so a new attack method or direction needs
// no change here.

import type { Coordinate, JsonValue, ManyItem, Metrics } from '../pipeline/stage.js';

/**
 * CIFAR-10 test accuracy (%) of the fair model trained on the toward-perturbed images, by k, from
 * A. Chan-Hon-Tong, "exemples passeurs" (ONERA, 2018), on the full data set (50,000 training
 * images); the paper gives no figure for k = 2 nor for the away direction. k unit steps move a
 * pixel by at most k levels, so the figures also stand beside budgets of k levels.
 */
export const PAPER_TOWARD_PERCENT: ReadonlyMap<number, number> = new Map([
  [0, 75],
  [1, 86],
  [3, 92],
]);
const PAPER_SOURCE =
  'A. Chan-Hon-Tong, "exemples passeurs", ONERA, 2018: CIFAR-10 test accuracy on the full data set (50,000 training images), toward direction';

/** The method of a row whose coordinates and statistics name none: the paper's sign steps. */
export const DEFAULT_METHOD = 'sign';

/** Perturbation statistics copied from the perturb stage's `stats` into each row (null where absent). */
export const PERTURBATION_FIELDS = [
  'mean_abs_change',
  'fraction_changed',
  'mean_abs_change_from_original',
  'max_abs_change_from_original',
  'fraction_changed_from_original',
  'psnr_db',
  'fraction_returned',
  'desired_loss',
  'desired_accuracy',
] as const;
export type PerturbationField = (typeof PERTURBATION_FIELDS)[number];

/** Where a row sits in the study. */
export interface RowSetting {
  readonly method: string;
  readonly direction: string;
  /** Largest change of a pixel from the original, in levels; 0 = unbounded. */
  readonly budget: number;
  /** Perturbation steps taken; null when the producing instances have no `k` matrix variable. */
  readonly k: number | null;
}

/** What the evaluation of a refit says about its weights (evaluate's metrics; null where absent). */
export const REFIT_FIELDS = ['angle_to_desired_deg', 'in_plane_accuracy', 'off_plane_share'] as const;
export type RefitField = (typeof REFIT_FIELDS)[number];

export type ReportRow = RowSetting & {
  /** 0..1; null when no evaluation of this setting was given. */
  test_accuracy: number | null;
  train_accuracy: number | null;
  /** (test_accuracy - baseline test accuracy) * 100. */
  gain_points: number | null;
} & Record<PerturbationField, number | null> &
  Record<RefitField, number | null>;

/** The `rows` artifact of the report stage: everything the tables and figures show. */
export interface ReportData {
  baseline: { test_accuracy: number; train_accuracy: number | null };
  desired: { test_accuracy: number };
  paper: { source: string; toward: { k: number; test_accuracy: number }[] };
  /** Sorted by method and direction (in the order the inputs first give them), then budget, then k. */
  rows: ReportRow[];
}

export interface ReportInputs {
  readonly baseline: Metrics;
  readonly desired: Metrics;
  /** Evaluations after perturbation, with their producers' matrix coordinates. */
  readonly steps: readonly ManyItem<Metrics>[];
  /** Perturbation statistics, with their producers' matrix coordinates. */
  readonly perturbations: readonly ManyItem<Metrics>[];
}

function finiteOrNull(value: number | string | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function requiredAccuracy(metrics: Metrics, input: string): number {
  const accuracy = finiteOrNull(metrics.accuracy);
  if (accuracy === null) {
    throw new Error(`report: input '${input}' has no numeric 'accuracy' (keys: ${Object.keys(metrics).join(', ') || 'none'})`);
  }
  return accuracy;
}

/** Removes floating-point noise such as 11.000000000000002 from derived values. */
export function roundMicro(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

const coordinatesKey = (coordinates: Readonly<Record<string, Coordinate>>) =>
  JSON.stringify(Object.keys(coordinates).sort().map((name) => [name, coordinates[name]]));

function byCoordinates(items: readonly ManyItem<Metrics>[], input: string): Map<string, ManyItem<Metrics>> {
  const found = new Map<string, ManyItem<Metrics>>();
  for (const item of items) {
    const key = coordinatesKey(item.coordinates);
    const previous = found.get(key);
    if (previous) {
      throw new Error(
        `report: input '${input}' has two instances with the same matrix coordinates ${key === '[]' ? '(none)' : key}: ` +
          `'${previous.instance}' and '${item.instance}'; bind it to matrix instances, one per setting`,
      );
    }
    found.set(key, item);
  }
  return found;
}

/** A row's setting: the matrix coordinates first, then the perturbation's own statistics, then the defaults. */
function settingOf(item: ManyItem<Metrics>, statistics: Metrics | undefined, input: string): RowSetting {
  const where = `report: input '${input}', instance '${item.instance}'`;
  const value = (name: string): Coordinate | undefined => item.coordinates[name] ?? statistics?.[name];
  const count = (name: string, fallback: number | null): number | null => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const number = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < 0) throw new Error(`${where}: ${name} '${String(raw)}' is not a non-negative integer`);
    return number;
  };
  const direction = value('direction');
  if (direction === undefined) {
    throw new Error(`${where}: no direction; give it a 'direction' matrix variable, or a perturbation with the same coordinates whose stats carry 'direction'`);
  }
  // A variant (a param that changes the method's loss, such as the difference's fair weight) joins the method's name.
  const method = String(value('method') ?? DEFAULT_METHOD);
  const variant = value('variant');
  return { method: variant === undefined ? method : `${method} (${String(variant)})`, direction: String(direction), budget: count('budget', 0)!, k: count('k', null) };
}

const settingKey = (setting: RowSetting) => JSON.stringify([setting.method, setting.direction, setting.budget, setting.k]);

/** First-appearance rank of each value, for an order that follows the config rather than the alphabet. */
function rankOf(values: readonly string[]): (value: string) => number {
  const ranks = new Map<string, number>();
  for (const value of values) if (!ranks.has(value)) ranks.set(value, ranks.size);
  return (value) => ranks.get(value)!;
}

function compareSettings(order: { method: (m: string) => number; direction: (d: string) => number }) {
  return (a: RowSetting, b: RowSetting) =>
    order.method(a.method) - order.method(b.method) ||
    order.direction(a.direction) - order.direction(b.direction) ||
    a.budget - b.budget ||
    (a.k ?? Infinity) - (b.k ?? Infinity);
}

/** Gathers the report's rows; the baseline (k = 0, clean images) stays apart from them. */
export function collectReport(inputs: ReportInputs): ReportData {
  const baselineAccuracy = requiredAccuracy(inputs.baseline, 'baseline');
  const evaluations = byCoordinates(inputs.steps, 'steps');
  const perturbations = byCoordinates(inputs.perturbations, 'perturbations');

  const rows: ReportRow[] = [];
  const placedBy = new Map<string, string>();
  const place = (evaluation: ManyItem<Metrics> | undefined, perturbation: ManyItem<Metrics> | undefined) => {
    const item = (evaluation ?? perturbation)!;
    const input = evaluation ? 'steps' : 'perturbations';
    const setting = settingOf(item, perturbation?.value, input);
    const key = settingKey(setting);
    const previous = placedBy.get(key);
    if (previous !== undefined) {
      throw new Error(
        `report: '${previous}' and '${item.instance}' are both method=${setting.method}, direction=${setting.direction}, budget=${setting.budget}, k=${setting.k ?? 'none'}; ` +
          'bind instances that differ in method, direction, budget or k',
      );
    }
    placedBy.set(key, item.instance);
    const testAccuracy = evaluation ? finiteOrNull(evaluation.value.accuracy) : null;
    const row = {
      ...setting,
      test_accuracy: testAccuracy,
      train_accuracy: evaluation ? finiteOrNull(evaluation.value.train_accuracy) : null,
      gain_points: testAccuracy === null ? null : roundMicro((testAccuracy - baselineAccuracy) * 100),
    } as ReportRow;
    for (const field of PERTURBATION_FIELDS) row[field] = perturbation ? finiteOrNull(perturbation.value[field]) : null;
    for (const field of REFIT_FIELDS) row[field] = evaluation ? finiteOrNull(evaluation.value[field]) : null;
    rows.push(row);
  };
  for (const [key, evaluation] of evaluations) place(evaluation, perturbations.get(key));
  for (const [key, perturbation] of perturbations) if (!evaluations.has(key)) place(undefined, perturbation);

  rows.sort(compareSettings({ method: rankOf(rows.map((row) => row.method)), direction: rankOf(rows.map((row) => row.direction)) }));
  return {
    baseline: { test_accuracy: baselineAccuracy, train_accuracy: finiteOrNull(inputs.baseline.train_accuracy) },
    desired: { test_accuracy: requiredAccuracy(inputs.desired, 'desired') },
    paper: {
      source: PAPER_SOURCE,
      toward: [...PAPER_TOWARD_PERCENT].map(([k, percent]) => ({ k, test_accuracy: percent / 100 })),
    },
    rows,
  };
}

/** Reads back the stage's `rows` artifact; `where` names it in the error. */
export function reportDataFromJson(value: JsonValue, where: string): ReportData {
  const record = (candidate: JsonValue | undefined) =>
    candidate !== null && typeof candidate === 'object' && !Array.isArray(candidate) ? candidate : undefined;
  const data = record(value);
  const accuracyOf = (part: string) => record(data?.[part])?.test_accuracy;
  const rowsHaveSettings = Array.isArray(data?.rows) && data.rows.every((row) => typeof record(row)?.method === 'string' && typeof record(row)?.budget === 'number');
  if (!data || !rowsHaveSettings || typeof accuracyOf('baseline') !== 'number' || typeof accuracyOf('desired') !== 'number') {
    throw new Error(`${where} is not a report's rows (expected baseline, desired and rows with method and budget); recompute it with \`pipeline run\``);
  }
  return data as unknown as ReportData;
}

/** The paper's accuracy (0..1) for a row: at its k for plain sign steps, at k = budget for a budget. */
export function paperFigureFor(data: ReportData, setting: RowSetting): number | null {
  if (setting.direction !== 'toward') return null;
  const at = (k: number) => data.paper.toward.find((point) => point.k === k)?.test_accuracy ?? null;
  if (setting.budget > 0) return at(setting.budget);
  return setting.k === null ? null : at(setting.k);
}
