// The auditor's report: its data model (the audit stage's rows, the false-flag study, the power
// table, the detector's results) and its renderings as Markdown, CSV, LaTeX and JSON. Shared by
// the audit-report stage and the `pipeline report` command so both print the same bytes.

import type { JsonValue } from '../pipeline/stage.js';
import type { Direction } from '../numerics/perturbation.js';
import { booktabsTabular, csvTable, fixed, latexRow, latexText, markdownTable, percent, signedPoints } from './table-format.js';

/** The formats of the audit section's table. */
export const AUDIT_FORMATS = ['md', 'csv', 'tex', 'json'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

export const AUDIT_TEST = "Fisher's exact test, one-sided (public accuracy > private accuracy), conditional on the total correct";
export const AUDIT_INTERVAL = "Newcombe's hybrid score interval (Wilson intervals of each part), two-sided";
export const DETECTOR_METHOD =
  'SPAM features (second order, T = 3, 686-d, channels pooled), standardized; linear SVM (LIBLINEAR -s 2, C = 1); ' +
  "trained on the auditor's private images clean vs. perturbed toward an SVM fit on them with shuffled labels";

/** One model of the study, seen by the auditor. */
export interface AuditRow {
  /** 'fair', or 'toward k=1', 'away k=2', ... */
  model: string;
  direction: Direction | null;
  /** 0 for the fair model. */
  k: number;
  public_correct: number;
  public_count: number;
  private_correct: number;
  private_count: number;
  /** 0..1. */
  public_accuracy: number;
  private_accuracy: number;
  /** (public - private) * 100. */
  gap_points: number;
  gap_interval_points: [number, number];
  /** One-sided: public accuracy exceeds private accuracy. */
  p_value: number;
  /** p_value <= alpha. */
  flagged: boolean;
}

export interface PowerRow {
  inflation_points: number;
  /** Smallest private sample size with the target power; null when beyond max_private (or the inflation exceeds 100 %). */
  private_count: number | null;
  /** Exact power at private_count (at max_private when private_count is null). */
  power: number | null;
}

/** The audit stage's output. */
export interface AuditData {
  test: string;
  interval: string;
  alpha: number;
  confidence: number;
  rows: AuditRow[];
  false_flags: {
    model: string;
    splits: number;
    flagged: number;
    rate: number;
    /** Clopper-Pearson, at `confidence`. */
    rate_interval: [number, number];
    /** The probability of a flag over all stratified splits (numerics/audit/false-flags.ts): the rate without sampling error. */
    exact_rate: number;
    public_fraction: number;
  };
  power: {
    target_power: number;
    public_count: number;
    /** The fair model's accuracy on the whole test set: the true accuracy of the power table. */
    honest_accuracy: number;
    max_private: number;
    rows: PowerRow[];
  };
}

/** The detect stage's output. */
export interface Detection {
  /** ROC AUC, the vendor's delivered training images (positive) against their clean originals. */
  auc: number;
  /** ROC AUC on held-out auditor images, perturbed toward the made-up model; null without a held-out part. */
  held_out_auc: number | null;
  training_pairs: number;
  held_out_pairs: number;
  evaluated_pairs: number;
  /** ROC vertices [false positive rate, true positive rate] on the vendor's images. */
  roc: [number, number][];
}

/** The audit-report stage's `rows`: what `pipeline report --format json` prints. */
export interface AuditReport extends AuditData {
  detector: { method: string; detections: (Detection & { budget: number })[] };
}

/** Reads back the audit-report stage's `rows` artifact; `where` names it in the error. */
export function auditReportFromJson(value: JsonValue, where: string): AuditReport {
  const data = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  const detector = data?.detector;
  if (!data || !Array.isArray(data.rows) || typeof data.alpha !== 'number' || detector === null || typeof detector !== 'object' || Array.isArray(detector)) {
    throw new Error(`${where} is not an audit report's rows (expected alpha, rows and detector); recompute it with \`pipeline run\``);
  }
  return data as unknown as AuditReport;
}

// ------------------------------------------------------------------ formatting

/** Three significant digits; scientific below 0.001; an exact 0 is an underflow. */
export function formatPValue(p: number): string {
  if (p === 0) return '< 1e-300';
  if (p >= 0.001) return String(Number(p.toPrecision(3)));
  const [mantissa, exponent] = p.toExponential(1).split('e');
  return `${mantissa}e${exponent}`;
}

const thousands = (count: number) => count.toLocaleString('en-US');

// ------------------------------------------------------------------ the table

interface Column {
  /** CSV header. */
  readonly key: string;
  /** Markdown header. */
  readonly title: string;
  /** LaTeX header. */
  readonly short: string;
}

export interface AuditTable {
  readonly columns: readonly Column[];
  readonly cells: readonly (readonly string[])[];
}

/** One row per model: public and private accuracy, the gap with its interval, the p-value and the verdict. */
export function auditTable(data: AuditData): AuditTable {
  const confidence = percent(data.confidence, 0);
  const columns: Column[] = [
    { key: 'model', title: 'model', short: 'model' },
    { key: 'public_accuracy_pct', title: 'public acc. (%)', short: 'public (\\%)' },
    { key: 'private_accuracy_pct', title: 'private acc. (%)', short: 'private (\\%)' },
    { key: 'gap_pts', title: 'gap (pts)', short: 'gap (pts)' },
    { key: 'gap_ci_low_pts', title: `${confidence} % CI low (pts)`, short: `${confidence}\\,\\% CI low` },
    { key: 'gap_ci_high_pts', title: `${confidence} % CI high (pts)`, short: `${confidence}\\,\\% CI high` },
    { key: 'p_value', title: 'p (public > private)', short: '$p$' },
    { key: 'flagged', title: `flagged (α = ${data.alpha})`, short: `flagged ($\\alpha = ${data.alpha}$)` },
  ];
  const cells = data.rows.map((row) => [
    row.model,
    percent(row.public_accuracy, 2),
    percent(row.private_accuracy, 2),
    signedPoints(row.gap_points),
    signedPoints(row.gap_interval_points[0]),
    signedPoints(row.gap_interval_points[1]),
    formatPValue(row.p_value),
    row.flagged ? 'yes' : 'no',
  ]);
  return { columns, cells };
}

// ------------------------------------------------------------------ renderings

export function renderAuditMarkdown(report: AuditReport): string {
  const table = auditTable(report);
  const first = report.rows[0];
  const flags = report.false_flags;
  const power = report.power;
  const confidence = percent(report.confidence, 0);
  const powerRows = power.rows.map((row) => [
    fixed(row.inflation_points, 1),
    row.private_count === null ? `more than ${thousands(power.max_private)}` : thousands(row.private_count),
    row.power === null ? '' : percent(row.power, 1),
  ]);
  const detections = [...report.detector.detections].sort((a, b) => a.budget - b.budget);
  const detectionRows = detections.map((detection) => [
    String(detection.budget),
    fixed(detection.auc, 3),
    detection.held_out_auc === null ? '' : fixed(detection.held_out_auc, 3),
    thousands(detection.training_pairs),
    thousands(detection.evaluated_pairs),
  ]);
  return [
    '## What an auditor sees',
    '',
    `The vendor fits its desired model on the public part of the test set (${thousands(first?.public_count ?? 0)} images) and reports accuracy there; ` +
      `the auditor holds a private part (${thousands(first?.private_count ?? 0)} images) of the same distribution that the vendor never saw.`,
    '',
    ...markdownTable(
      table.columns.map((column) => column.title),
      table.cells,
      table.columns.map((_, index) => (index === 0 ? '---' : '--:')),
    ),
    '',
    `Test: ${report.test}. Interval: ${report.interval}, ${confidence} %. Gaps are public minus private, in points.`,
    '',
    `**An honest vendor.** Over ${flags.splits} random public/private splits (stratified, ${percent(flags.public_fraction, 0)} % public) ` +
      `of the ${flags.model} model's answers, the test flagged ${flags.flagged}: a false-flag rate of ${percent(flags.rate, 0)} % ` +
      `(${confidence} % Clopper-Pearson interval ${percent(flags.rate_interval[0], 1)}-${percent(flags.rate_interval[1], 1)} %) at α = ${report.alpha}. ` +
      `Over all such splits, exactly: ${percent(flags.exact_rate, 2)} % (the per-class hypergeometric laws convolved).`,
    '',
    `**Private images an auditor needs** to flag an inflation at α = ${report.alpha} with ${percent(power.target_power, 0)} % power ` +
      `(exact power of the test; public part of ${thousands(power.public_count)} images; true accuracy ${percent(power.honest_accuracy, 1)} %, the fair model's):`,
    '',
    ...markdownTable(['inflation (pts)', 'private images needed', 'power at that size (%)'], powerRows, ['--:', '--:', '--:']),
    '',
    `**Does the delivered training set give the cheat away?** A blind detector: ${report.detector.method}. ` +
      "AUC 0.5 is chance. Budget b: the vendor's images after b toward steps (each pixel within b levels of the original).",
    '',
    ...markdownTable(
      ['budget (levels)', "AUC, vendor's delivered vs. clean training images", "AUC, auditor's held-out images", 'training pairs', 'evaluated pairs'],
      detectionRows,
      ['--:', '--:', '--:', '--:', '--:'],
    ),
    '',
  ].join('\n');
}

export function renderAuditCsv(data: AuditData): string {
  const table = auditTable(data);
  return csvTable(table.columns.map((column) => column.key), table.cells);
}

/** A leading sign or '<' in math mode (a minus, not a hyphen); the column headers are LaTeX already. */
function latexCell(text: string): string {
  return /^[-+<]/.test(text) ? `$${text[0]}$${text.slice(1)}` : latexText(text);
}

/** A booktabs tabular (needs \usepackage{booktabs}), to \input inside the reader's own table environment. */
export function renderAuditLatex(data: AuditData): string {
  const table = auditTable(data);
  return booktabsTabular(
    `l${'r'.repeat(table.columns.length - 1)}`,
    [latexRow(table.columns.map((column) => column.short))],
    table.cells.map((cells) => cells.map(latexCell)),
  );
}

export function renderAuditReport(report: AuditReport, format: AuditFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'csv':
      return renderAuditCsv(report);
    case 'md':
      return renderAuditMarkdown(report);
    case 'tex':
      return renderAuditLatex(report);
  }
}
