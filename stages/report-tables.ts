// The report's data model (one row per direction and k, gathered from the evaluate and
// perturb instances) and its renderings as Markdown, CSV, LaTeX and JSON. Shared by the
// report stage and the `pipeline report` command so both print the same bytes.

import type { JsonValue, Metrics } from '../pipeline/stage.js';
import type { Direction } from '../numerics/perturbation.js';

export const DIRECTIONS: readonly Direction[] = ['toward', 'away'];

/**
 * CIFAR-10 test accuracy (%) of the fair model trained on the toward-perturbed images, by k,
 * from A. Chan-Hon-Tong, "exemples passeurs" (ONERA, 2018), the CIFAR-10 results;
 * the paper gives no figure for k = 2 nor for the away direction.
 */
export const PAPER_TOWARD_PERCENT: ReadonlyMap<number, number> = new Map([
  [0, 75],
  [1, 86],
  [3, 92],
]);
export const PAPER_SOURCE = 'A. Chan-Hon-Tong, "exemples passeurs", ONERA, 2018: CIFAR-10 test accuracy, toward direction';

export const PERTURBATION_FIELDS = [
  'mean_abs_change',
  'fraction_changed',
  'mean_abs_change_from_original',
  'max_abs_change_from_original',
  'fraction_changed_from_original',
  'psnr_db',
  'fraction_returned',
] as const;
export type PerturbationField = (typeof PERTURBATION_FIELDS)[number];

export type ReportRow = {
  direction: Direction;
  k: number;
  /** 0..1; null when no evaluation of this step was given. */
  test_accuracy: number | null;
  train_accuracy: number | null;
  /** (test_accuracy - baseline test accuracy) * 100. */
  gain_points: number | null;
} & Record<PerturbationField, number | null>;

/** The `rows` artifact of the report stage: everything the tables and the plot show. */
export interface ReportData {
  baseline: { test_accuracy: number; train_accuracy: number | null };
  desired: { test_accuracy: number };
  paper: { source: string; toward: { k: number; test_accuracy: number }[] };
  /** Sorted by direction (toward, away) then k; k = 0 is the baseline. */
  rows: ReportRow[];
}

export interface ReportInputs {
  readonly baseline: Metrics;
  readonly desired: Metrics;
  /** Evaluations keyed by instance name, e.g. `evaluate@direction=toward,k=2`. */
  readonly steps: Readonly<Record<string, Metrics>>;
  /** Perturbation statistics keyed by instance name, e.g. `perturb@k=2,direction=away`. */
  readonly perturbations: Readonly<Record<string, Metrics>>;
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
function roundMicro(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** Reads the matrix variables `direction` and `k` from an instance name such as `evaluate@k=2,direction=toward`. */
export function stepOfInstance(name: string, input: string): { direction: Direction; k: number } {
  const at = name.indexOf('@');
  const variables = new Map<string, string>();
  if (at >= 0) {
    for (const pair of name.slice(at + 1).split(',')) {
      const equals = pair.indexOf('=');
      if (equals > 0) variables.set(pair.slice(0, equals).trim(), pair.slice(equals + 1).trim());
    }
  }
  const direction = variables.get('direction');
  const k = variables.get('k');
  const where = `report: input '${input}', instance '${name}'`;
  if (direction === undefined || k === undefined) {
    throw new Error(`${where}: expected matrix variables 'direction' and 'k' after '@' (e.g. evaluate@direction=toward,k=1)`);
  }
  if (!DIRECTIONS.includes(direction as Direction)) {
    throw new Error(`${where}: direction '${direction}' is not one of ${DIRECTIONS.join(', ')}`);
  }
  if (!/^\d+$/.test(k)) throw new Error(`${where}: k '${k}' is not a non-negative integer`);
  return { direction: direction as Direction, k: Number(k) };
}

const stepKey = (direction: Direction, k: number) => `${direction} ${k}`;

function byStep(instances: Readonly<Record<string, Metrics>>, input: string): Map<string, Metrics> {
  const found = new Map<string, Metrics>();
  const namesByKey = new Map<string, string>();
  for (const name of Object.keys(instances).sort()) {
    const { direction, k } = stepOfInstance(name, input);
    const key = stepKey(direction, k);
    const previous = namesByKey.get(key);
    if (previous !== undefined) {
      throw new Error(
        `report: input '${input}' has two instances for direction=${direction}, k=${k}: '${previous}' and '${name}'; ` +
          `bind it to instances that differ only in direction and k`,
      );
    }
    namesByKey.set(key, name);
    found.set(key, instances[name]);
  }
  return found;
}

/** Gathers the report's rows: k = 0 is the baseline unless a step instance for k = 0 is given. */
export function collectReport(inputs: ReportInputs): ReportData {
  const baselineAccuracy = requiredAccuracy(inputs.baseline, 'baseline');
  const evaluations = byStep(inputs.steps, 'steps');
  const perturbations = byStep(inputs.perturbations, 'perturbations');
  const largestK = Math.max(
    0,
    ...Object.keys(inputs.steps).map((name) => stepOfInstance(name, 'steps').k),
    ...Object.keys(inputs.perturbations).map((name) => stepOfInstance(name, 'perturbations').k),
  );

  const rows: ReportRow[] = [];
  for (const direction of DIRECTIONS) {
    for (let k = 0; k <= largestK; k++) {
      const key = stepKey(direction, k);
      const evaluation = evaluations.get(key) ?? (k === 0 ? inputs.baseline : undefined);
      const perturbation = perturbations.get(key);
      if (evaluation === undefined && perturbation === undefined) continue;
      const testAccuracy = evaluation ? finiteOrNull(evaluation.accuracy) : null;
      const row = {
        direction,
        k,
        test_accuracy: testAccuracy,
        train_accuracy: evaluation ? finiteOrNull(evaluation.train_accuracy) : null,
        gain_points: testAccuracy === null ? null : roundMicro((testAccuracy - baselineAccuracy) * 100),
      } as ReportRow;
      for (const field of PERTURBATION_FIELDS) row[field] = perturbation ? finiteOrNull(perturbation[field]) : null;
      rows.push(row);
    }
  }
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
  if (!data || !Array.isArray(data.rows) || typeof accuracyOf('baseline') !== 'number' || typeof accuracyOf('desired') !== 'number') {
    throw new Error(`${where} is not a report's rows (expected baseline, desired and rows); recompute it with \`pipeline run\``);
  }
  return data as unknown as ReportData;
}

// ------------------------------------------------------------------ the table

/** One column of the paper-style table; `group` spans neighbouring columns in the LaTeX header. */
interface Column {
  /** CSV header: a stable machine name. */
  readonly key: string;
  /** Markdown header. */
  readonly title: string;
  readonly group: string;
  /** LaTeX header under its group. */
  readonly short: string;
}

export interface ReportTable {
  readonly columns: readonly Column[];
  /** Formatted cells; '' where a value is missing. */
  readonly cells: readonly (readonly string[])[];
}

function percent(fraction: number | null): string {
  return fraction === null ? '' : fixed(fraction * 100, 1);
}

function fixed(value: number | null, digits: number): string {
  if (value === null) return '';
  const text = value.toFixed(digits);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

function signedPoints(points: number | null): string {
  const text = fixed(points, 1);
  return text === '' || text.startsWith('-') || Number(text) === 0 ? text : `+${text}`;
}

const STAT_COLUMNS: readonly { field: PerturbationField; suffix: string; title: string; format: (v: number | null) => string }[] = [
  { field: 'fraction_changed_from_original', suffix: 'changed_pct', title: 'changed (%)', format: percent },
  { field: 'mean_abs_change_from_original', suffix: 'mean_abs_change', title: 'mean |Δ|', format: (v) => fixed(v, 2) },
  { field: 'max_abs_change_from_original', suffix: 'max_abs_change', title: 'max |Δ|', format: (v) => fixed(v, 0) },
  { field: 'psnr_db', suffix: 'psnr_db', title: 'PSNR (dB)', format: (v) => fixed(v, 1) },
  { field: 'fraction_returned', suffix: 'returned_pct', title: 'returned (%)', format: percent },
];

/** The paper-style table: rows k = 0..K; accuracies, gains, the bound, the paper's figures, perturbation statistics. */
export function reportTable(data: ReportData): ReportTable {
  const columns: Column[] = [
    { key: 'k', title: 'k', group: '', short: 'k' },
    { key: 'toward_accuracy_pct', title: 'toward acc. (%)', group: 'Test accuracy (%)', short: 'toward' },
    { key: 'away_accuracy_pct', title: 'away acc. (%)', group: 'Test accuracy (%)', short: 'away' },
    { key: 'toward_gain_pts', title: 'toward gain (pts)', group: 'Gain (points)', short: 'toward' },
    { key: 'away_gain_pts', title: 'away gain (pts)', group: 'Gain (points)', short: 'away' },
    { key: 'desired_accuracy_pct', title: 'desired bound (%)', group: 'Bound (%)', short: 'desired' },
    { key: 'paper_toward_accuracy_pct', title: 'paper toward acc. (%)', group: 'Paper, toward', short: 'acc. (%)' },
    { key: 'paper_toward_gain_pts', title: 'paper gain (pts)', group: 'Paper, toward', short: 'gain (pts)' },
  ];
  for (const direction of DIRECTIONS) {
    for (const stat of STAT_COLUMNS) {
      columns.push({
        key: `${direction}_${stat.suffix}`,
        title: `${direction} ${stat.title}`,
        group: `${direction[0].toUpperCase()}${direction.slice(1)} perturbation`,
        short: stat.title,
      });
    }
  }

  const rowAt = new Map(data.rows.map((row) => [stepKey(row.direction, row.k), row]));
  const largestK = Math.max(0, ...data.rows.map((row) => row.k));
  const paperAt = new Map(data.paper.toward.map((point) => [point.k, point.test_accuracy]));
  const paperBaseline = paperAt.get(0);
  const cells: string[][] = [];
  for (let k = 0; k <= largestK; k++) {
    const toward = rowAt.get(stepKey('toward', k));
    const away = rowAt.get(stepKey('away', k));
    const paper = paperAt.get(k) ?? null;
    const paperGain = paper === null || paperBaseline === undefined ? null : roundMicro((paper - paperBaseline) * 100);
    const row = [
      String(k),
      percent(toward?.test_accuracy ?? null),
      percent(away?.test_accuracy ?? null),
      signedPoints(toward?.gain_points ?? null),
      signedPoints(away?.gain_points ?? null),
      percent(data.desired.test_accuracy),
      percent(paper),
      signedPoints(paperGain),
    ];
    for (const stepRow of [toward, away]) {
      for (const stat of STAT_COLUMNS) row.push(stat.format(stepRow?.[stat.field] ?? null));
    }
    cells.push(row);
  }
  return { columns, cells };
}

// ------------------------------------------------------------------ renderings

export function renderMarkdown(data: ReportData): string {
  const table = reportTable(data);
  const line = (cells: readonly string[]) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  const baselineTrain = data.baseline.train_accuracy === null ? '' : `, ${percent(data.baseline.train_accuracy)} % train`;
  return [
    '### Test accuracy of the fair model trained on images perturbed k times',
    '',
    line(table.columns.map((column) => column.title)),
    line(table.columns.map(() => '--:')),
    ...table.cells.map(line),
    '',
    `Baseline (k = 0, fair training on the clean images): ${percent(data.baseline.test_accuracy)} % test${baselineTrain}. ` +
      `Desired model (fit on the test set): ${percent(data.desired.test_accuracy)} % on that test set, the bound of any gain.`,
    '',
    'Gains are in percentage points over the baseline. Toward steps descend the desired model\'s loss ("exemples passeurs"); ' +
      'away steps ascend it (poisoning).',
    'Perturbation statistics compare the training images after k steps with the originals (pixel levels 0-255); ' +
      '"returned" is the share of pixel values that step k brought back to their original value.',
    `Paper: ${data.paper.source}; blank where it gives no figure.`,
    '',
  ].join('\n');
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function renderCsv(data: ReportData): string {
  const table = reportTable(data);
  const line = (cells: readonly string[]) => cells.map(csvField).join(',');
  return [line(table.columns.map((column) => column.key)), ...table.cells.map(line), ''].join('\n');
}

function latexText(text: string): string {
  return text
    .replace(/[\\{}&%#_$]/g, (character) => (character === '\\' ? '\\textbackslash{}' : `\\${character}`))
    .replaceAll('|Δ|', '$|\\Delta|$');
}

function latexCell(text: string): string {
  return text.startsWith('-') ? `$-$${text.slice(1)}` : text.startsWith('+') ? `$+$${text.slice(1)}` : latexText(text);
}

/** A booktabs tabular (needs \usepackage{booktabs}), to \input inside the reader's own table environment. */
export function renderLatex(data: ReportData): string {
  const table = reportTable(data);
  const groups: { title: string; from: number; to: number }[] = [];
  table.columns.forEach((column, index) => {
    const last = groups[groups.length - 1];
    if (last && last.title === column.group) last.to = index;
    else groups.push({ title: column.group, from: index, to: index });
  });
  const groupCells = groups.map((group) =>
    group.from === group.to ? latexText(group.title) : `\\multicolumn{${group.to - group.from + 1}}{c}{${latexText(group.title)}}`,
  );
  const rules = groups
    .filter((group) => group.title !== '')
    .map((group) => `\\cmidrule(lr){${group.from + 1}-${group.to + 1}}`)
    .join(' ');
  const row = (cells: readonly string[]) => `${cells.join(' & ')} \\\\`;
  return [
    '% requires \\usepackage{booktabs}',
    `\\begin{tabular}{${'r'.repeat(table.columns.length)}}`,
    '\\toprule',
    row(groupCells),
    rules,
    row(table.columns.map((column) => latexText(column.short))),
    '\\midrule',
    ...table.cells.map((cells) => row(cells.map(latexCell))),
    '\\bottomrule',
    '\\end{tabular}',
    '',
  ].join('\n');
}

export function renderJson(data: ReportData): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

export const REPORT_FORMATS = ['json', 'csv', 'md', 'tex'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function renderReport(data: ReportData, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return renderJson(data);
    case 'csv':
      return renderCsv(data);
    case 'md':
      return renderMarkdown(data);
    case 'tex':
      return renderLatex(data);
  }
}
