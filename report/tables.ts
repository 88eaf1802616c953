// The report's tables: the full one (every setting, both directions side by side, every
// perturbation statistic) and the compact one a paper column can hold (setting, direction,
// accuracy, gain, the paper's figure, PSNR); rendered as Markdown, CSV and LaTeX. The report stage
// and the `pipeline report` command both render through here, so they print the same bytes.

import { paperFigureFor, roundMicro, DEFAULT_METHOD, REFIT_FIELDS, type PerturbationField, type RefitField, type ReportData, type ReportRow, type RowSetting } from './data.js';
import { booktabsTabular, csvTable, fixed, latexRow, latexText, markdownTable, percent, signedPoints } from './table-format.js';

/** One column; `group` spans neighbouring columns in the LaTeX header. */
interface Column {
  /** CSV header: a stable machine name. */
  readonly key: string;
  /** Markdown header. */
  readonly title: string;
  readonly group: string;
  /** LaTeX header under its group. */
  readonly short: string;
}

/** Columns of words, aligned left; the others hold numbers. */
export const isTextColumn = (column: Column) => ['method', 'setting', 'direction'].includes(column.key);

export interface Table {
  readonly columns: readonly Column[];
  /** Formatted cells; '' where a value is missing. */
  readonly cells: readonly (readonly string[])[];
}

export const budgetText = (budget: number) => (budget === 0 ? 'unbounded' : String(budget));

/** Directions in the order of the rows (the order the config gives them). */
function directionsOf(data: ReportData): string[] {
  return [...new Set(data.rows.map((row) => row.direction))];
}

/** Per-direction columns: the perturbation's statistics, then what the evaluation says of the refit's weights. */
const ROW_COLUMNS: readonly { field: PerturbationField | RefitField; suffix: string; title: string; format: (v: number | null) => string }[] = [
  { field: 'fraction_changed_from_original', suffix: 'changed_pct', title: 'changed (%)', format: percent },
  { field: 'mean_abs_change_from_original', suffix: 'mean_abs_change', title: 'mean |Δ|', format: (v) => fixed(v, 2) },
  { field: 'max_abs_change_from_original', suffix: 'max_abs_change', title: 'max |Δ|', format: (v) => fixed(v, 0) },
  { field: 'psnr_db', suffix: 'psnr_db', title: 'PSNR (dB)', format: (v) => fixed(v, 1) },
  { field: 'fraction_returned', suffix: 'returned_pct', title: 'returned (%)', format: percent },
  { field: 'desired_loss', suffix: 'desired_loss', title: 'desired loss', format: (v) => fixed(v, 3) },
  { field: 'desired_accuracy', suffix: 'desired_accuracy_pct', title: 'desired acc. (%)', format: percent },
  { field: 'angle_to_desired_deg', suffix: 'angle_to_desired_deg', title: 'angle to desired (°)', format: (v) => fixed(v, 1) },
  { field: 'in_plane_accuracy', suffix: 'in_plane_accuracy_pct', title: 'in-plane acc. (%)', format: percent },
  { field: 'off_plane_share', suffix: 'off_plane_share', title: 'off-plane share', format: (v) => fixed(v, 2) },
];

const capitalized = (text: string) => `${text[0].toUpperCase()}${text.slice(1)}`;

function paperGain(data: ReportData, paper: number | null): number | null {
  const paperBaseline = data.paper.toward.find((point) => point.k === 0)?.test_accuracy;
  return paper === null || paperBaseline === undefined ? null : roundMicro((paper - paperBaseline) * 100);
}

/**
 * One row per (method, budget, k), the directions side by side; the first row is the baseline
 * (method 'none', k = 0: the fair model trained on the clean images).
 */
export function fullTable(data: ReportData): Table {
  const directions = directionsOf(data);
  const columns: Column[] = [
    { key: 'method', title: 'method', group: '', short: 'method' },
    { key: 'budget', title: 'budget', group: '', short: 'budget' },
    { key: 'k', title: 'k', group: '', short: 'k' },
    ...directions.map((d) => ({ key: `${d}_accuracy_pct`, title: `${d} acc. (%)`, group: 'Test accuracy (%)', short: d })),
    ...directions.map((d) => ({ key: `${d}_gain_pts`, title: `${d} gain (pts)`, group: 'Gain (points)', short: d })),
    { key: 'desired_accuracy_pct', title: 'desired bound (%)', group: 'Bound (%)', short: 'desired' },
    { key: 'paper_toward_accuracy_pct', title: 'paper toward acc. (%)', group: 'Paper, toward', short: 'acc. (%)' },
    { key: 'paper_toward_gain_pts', title: 'paper gain (pts)', group: 'Paper, toward', short: 'gain (pts)' },
  ];
  // The perturbation's statistics for each direction, then the refit's.
  const isRefitField = (field: string) => (REFIT_FIELDS as readonly string[]).includes(field);
  const perDirection = (['perturbation', 'refit'] as const).flatMap((of) =>
    directions.flatMap((direction) => ROW_COLUMNS.filter((column) => isRefitField(column.field) === (of === 'refit')).map((stat) => ({ direction, stat, of }))),
  );
  for (const { direction, stat, of } of perDirection) {
    columns.push({ key: `${direction}_${stat.suffix}`, title: `${direction} ${stat.title}`, group: `${capitalized(direction)} ${of}`, short: stat.title });
  }

  const paperBaseline = data.paper.toward.find((point) => point.k === 0)?.test_accuracy ?? null;
  const cells: string[][] = [
    [
      'none',
      '',
      '0',
      ...directions.map(() => percent(data.baseline.test_accuracy)),
      ...directions.map(() => signedPoints(0)),
      percent(data.desired.test_accuracy),
      percent(paperBaseline),
      signedPoints(paperBaseline === null ? null : 0),
      ...perDirection.map(() => ''),
    ],
  ];
  const groups = new Map<string, Map<string, ReportRow>>();
  for (const row of data.rows) {
    const group = JSON.stringify([row.method, row.budget, row.k]);
    if (!groups.has(group)) groups.set(group, new Map());
    groups.get(group)!.set(row.direction, row);
  }
  const methodRank = (method: string) => data.rows.findIndex((row) => row.method === method);
  const settingOf = (byDirection: Map<string, ReportRow>) => [...byDirection.values()][0];
  const ordered = [...groups.values()].sort((a, b) => {
    const [first, second] = [settingOf(a), settingOf(b)];
    return methodRank(first.method) - methodRank(second.method) || first.budget - second.budget || (first.k ?? Infinity) - (second.k ?? Infinity);
  });
  for (const byDirection of ordered) {
    const setting = settingOf(byDirection);
    const paper = paperFigureFor(data, { ...setting, direction: 'toward' });
    const at = (direction: string) => byDirection.get(direction);
    cells.push([
      setting.method,
      String(setting.budget),
      setting.k === null ? '' : String(setting.k),
      ...directions.map((d) => percent(at(d)?.test_accuracy ?? null)),
      ...directions.map((d) => signedPoints(at(d)?.gain_points ?? null)),
      percent(data.desired.test_accuracy),
      percent(paper),
      signedPoints(paperGain(data, paper)),
      ...perDirection.map(({ direction, stat }) => stat.format(at(direction)?.[stat.field] ?? null)),
    ]);
  }
  return { columns, cells };
}

/** Which parts of a setting the compact table names: those that vary, or differ from the plain sign steps. */
function settingParts(data: ReportData): { method: boolean; budget: boolean; k: boolean } {
  const varies = (values: unknown[]) => new Set(values).size > 1;
  return {
    method: varies(data.rows.map((row) => row.method)) || data.rows.some((row) => row.method !== DEFAULT_METHOD),
    budget: varies(data.rows.map((row) => row.budget)) || data.rows.some((row) => row.budget !== 0),
    k: data.rows.some((row) => row.k !== null),
  };
}

function settingLabel(setting: RowSetting, parts: { method: boolean; budget: boolean; k: boolean }): string {
  return [
    parts.method ? setting.method : '',
    parts.budget ? budgetText(setting.budget) : '',
    parts.k && setting.k !== null ? String(setting.k) : '',
  ]
    .filter((part) => part !== '')
    .join(', ');
}

/** At most six columns: setting, direction, test accuracy, gain, the paper's figure, PSNR; the baseline first. */
export function compactTable(data: ReportData): Table {
  const parts = settingParts(data);
  const header = [parts.method ? 'method' : '', parts.budget ? 'budget' : '', parts.k ? 'k' : ''].filter((part) => part !== '').join(', ') || 'setting';
  const columns: Column[] = [
    { key: 'setting', title: header, group: '', short: header },
    { key: 'direction', title: 'direction', group: '', short: 'direction' },
    { key: 'accuracy_pct', title: 'test acc. (%)', group: '', short: 'acc. (%)' },
    { key: 'gain_pts', title: 'gain (pts)', group: '', short: 'gain' },
    { key: 'paper_accuracy_pct', title: 'paper (%)', group: '', short: 'paper (%)' },
    { key: 'psnr_db', title: 'PSNR (dB)', group: '', short: 'PSNR (dB)' },
  ];
  const paperBaseline = data.paper.toward.find((point) => point.k === 0)?.test_accuracy ?? null;
  const cells: string[][] = [['clean (k = 0)', '', percent(data.baseline.test_accuracy), signedPoints(0), percent(paperBaseline), '']];
  for (const row of data.rows) {
    cells.push([
      settingLabel(row, parts),
      row.direction,
      percent(row.test_accuracy),
      signedPoints(row.gain_points),
      percent(paperFigureFor(data, row)),
      fixed(row.psnr_db, 1),
    ]);
  }
  return { columns, cells };
}

// ------------------------------------------------------------------ renderings

function markdown(table: Table): string[] {
  return markdownTable(
    table.columns.map((column) => column.title),
    table.cells,
    table.columns.map((column) => (isTextColumn(column) ? ':--' : '--:')),
  );
}

/** The notes under a table, shared by the Markdown and HTML reports. */
export function reportNotes(data: ReportData): string[] {
  const baselineTrain = data.baseline.train_accuracy === null ? '' : `, ${percent(data.baseline.train_accuracy)} % train`;
  return [
    `Baseline (k = 0, fair training on the clean images): ${percent(data.baseline.test_accuracy)} % test${baselineTrain}. ` +
      `Desired model (fit on the test set): ${percent(data.desired.test_accuracy)} % on that test set, the bound of any gain.`,
    'Gains are in percentage points over the baseline. Toward steps descend the desired model\'s loss ("exemples passeurs"); ' +
      'away steps ascend it (poisoning). Budget: the largest change of a pixel from its original value, in levels; 0 means unbounded.',
    'Perturbation statistics compare the training images after k steps with the originals (pixel levels 0-255); ' +
      '"returned" is the share of pixel values that step k brought back to their original value; ' +
      '"desired loss" and "desired acc." are the desired head\'s on the perturbed training images.',
    'Refit columns (blank unless the evaluation had the desired and fair models): the angle between the refit\'s and the desired model\'s ' +
      'weight vectors (mean over classes, bias weight included); the test accuracy of the refit\'s weights projected, class by class, ' +
      'on the plane of the desired and fair weights ("in-plane"); and the share of the weights\' norm outside that plane ("off-plane").',
    `Paper: ${data.paper.source}; beside the rows of its k, or of a budget of k levels; blank where it gives no figure.`,
  ];
}

export function renderMarkdown(data: ReportData): string {
  return [
    '### Test accuracy of the fair model trained on perturbed images',
    '',
    ...markdown(compactTable(data)),
    '',
    ...reportNotes(data).flatMap((note) => [note, '']),
    '#### Every statistic',
    '',
    ...markdown(fullTable(data)),
    '',
  ].join('\n');
}

export function renderCsv(data: ReportData): string {
  const table = fullTable(data);
  return csvTable(table.columns.map((column) => column.key), table.cells);
}

function latexCell(text: string): string {
  return /^[+-]\d/.test(text) ? `$${text[0]}$${text.slice(1)}` : latexText(text);
}

/** The table as a booktabs tabular; neighbouring columns of one `group` share a header above theirs. */
function latexTabular(table: Table): string {
  const groups: { title: string; from: number; to: number }[] = [];
  table.columns.forEach((column, index) => {
    const last = groups[groups.length - 1];
    if (last && last.title === column.group) last.to = index;
    else groups.push({ title: column.group, from: index, to: index });
  });
  const header = groups.some((group) => group.title !== '')
    ? [
        latexRow(groups.map((group) => (group.from === group.to ? latexText(group.title) : `\\multicolumn{${group.to - group.from + 1}}{c}{${latexText(group.title)}}`))),
        groups
          .filter((group) => group.title !== '')
          .map((group) => `\\cmidrule(lr){${group.from + 1}-${group.to + 1}}`)
          .join(' '),
      ]
    : [];
  const alignment = table.columns.map((column) => (isTextColumn(column) ? 'l' : 'r')).join('');
  return booktabsTabular(
    alignment,
    [...header, latexRow(table.columns.map((column) => latexText(column.short)))],
    table.cells.map((cells) => cells.map(latexCell)),
  );
}

export const renderLatex = (data: ReportData) => latexTabular(fullTable(data));
export const renderCompactLatex = (data: ReportData) => latexTabular(compactTable(data));

export function renderJson(data: ReportData): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}
