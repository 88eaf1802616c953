// The report's two plots, as figures (report/figure.ts): test accuracy against the number of
// steps k, and against the pixel budget. Series come from the rows (one per method, direction
// and, against k, budget), styled from a fixed palette in the order the rows give them, so a new
// method or direction needs no change here. The paper's points are marked as full-data figures.

import { axesShapes, textWidth, type Figure, type MarkerShape, type Shape } from './figure.js';
import { budgetText } from './tables.js';
import type { ReportData, ReportRow } from './data.js';

/** Okabe & Ito's colour-blind-safe palette, without its yellow (too pale on white) and its black (the paper's). */
const COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9'];
/** As many shapes as colours, so that the 6 first series differ in both. */
const MARKERS: readonly MarkerShape[] = ['circle', 'square', 'triangle', 'triangle-down', 'diamond', 'pentagon'];
const BASELINE = { color: '#666666', dash: [5, 3], label: 'baseline (clean training)' };
const BOUND = { color: '#333333', dash: [1.5, 2.5], label: 'desired model (bound)' };
const PAPER = { color: '#000000', marker: 'star' as const, label: 'paper, full CIFAR-10' };

/** Sized for one column of a paper: 320 pt wide, printed at about 3.3 in its text is 7.5-8 pt. */
const WIDTH = 320;
const FONT = { tick: 10, label: 11, legend: 10 };
const PLOT = { left: 44, right: WIDTH - 10, top: 10, height: 150 };
const LEGEND_ROW = 14;
const MARKER_SIZE = 6;

export interface SeriesStyle {
  readonly color: string;
  readonly marker: MarkerShape;
}

/** The i-th style: the first six differ in colour and shape; past them, each colour comes back with another shape. */
export function seriesStyle(index: number): SeriesStyle {
  return { color: COLORS[index % COLORS.length], marker: MARKERS[(index + Math.floor(index / COLORS.length)) % MARKERS.length] };
}

interface Point {
  readonly x: number;
  /** 0..1 */
  readonly accuracy: number;
}

interface Series {
  readonly label: string;
  readonly points: readonly Point[];
  /** Draw a line from the first point without a marker there (the shared baseline at k = 0). */
  readonly startsAtBaseline: boolean;
}

interface PlotSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly ticks: readonly { readonly x: number; readonly label: string }[];
  readonly xRange: readonly [number, number];
  readonly series: readonly Series[];
  readonly paper: readonly Point[];
  /** A marker for the baseline at this x (k = 0), beside the lines' common start. */
  readonly baselineAt?: number;
}

/** A tick spacing giving at most seven intervals, and the range rounded outward to it. */
function accuracyAxis(lowest: number, highest: number): { min: number; max: number; tick: number } {
  const padded = { low: Math.max(0, lowest - 2), high: Math.min(100, highest + 2) };
  const tick = [1, 2, 5, 10, 20].find((step) => (padded.high - padded.low) / step <= 7) ?? 25;
  return { min: Math.floor(padded.low / tick) * tick, max: Math.ceil(padded.high / tick) * tick, tick };
}

/** The label parts that tell series apart: those that vary among them. */
function seriesLabeller(rows: readonly ReportRow[], parts: readonly ('method' | 'direction' | 'budget')[]) {
  const varying = parts.filter((part) => new Set(rows.map((row) => row[part])).size > 1);
  const shown = varying.length > 0 ? varying : parts.includes('direction') ? ['direction' as const] : [];
  return (row: ReportRow) => shown.map((part) => (part === 'budget' ? `budget ${budgetText(row.budget)}` : String(row[part]))).join(', ');
}

function legendLayout(labels: readonly string[]): { columns: number; columnWidth: number; rows: number } {
  const widest = Math.max(...labels.map((label) => 24 + textWidth(label, FONT.legend)));
  const columns = Math.max(1, Math.min(3, Math.floor((WIDTH - 16) / (widest + 10))));
  return { columns, columnWidth: (WIDTH - 16) / columns, rows: Math.ceil(labels.length / columns) };
}

function drawPlot(data: ReportData, spec: PlotSpec): Figure {
  const percents = [
    data.baseline.test_accuracy,
    data.desired.test_accuracy,
    ...spec.series.flatMap((series) => series.points.map((point) => point.accuracy)),
    ...spec.paper.map((point) => point.accuracy),
  ].map((fraction) => fraction * 100);
  const axis = accuracyAxis(Math.min(...percents), Math.max(...percents));
  const bottom = PLOT.top + PLOT.height;
  const [xMin, xMax] = spec.xRange;
  const xOf = (x: number) => PLOT.left + ((x - xMin) / (xMax - xMin)) * (PLOT.right - PLOT.left);
  const yOf = (fraction: number) => bottom - ((fraction * 100 - axis.min) / (axis.max - axis.min)) * PLOT.height;
  // Points at one x sit side by side: each series, then the paper, gets its own small offset.
  const slots = spec.series.length + 1;
  const dodge = Math.min(5, (0.3 * (xOf(xMin + 1) - xOf(xMin))) / slots);
  const offset = (slot: number) => (slot - (slots - 1) / 2) * dodge;

  const yTicks: { y: number; label: string }[] = [];
  for (let tick = axis.min; tick <= axis.max + 1e-9; tick += axis.tick) yTicks.push({ y: yOf(tick / 100), label: String(tick) });
  const shapes: Shape[] = axesShapes({
    area: { left: PLOT.left, right: PLOT.right, top: PLOT.top, bottom },
    xTicks: spec.ticks.map((tick) => ({ x: xOf(tick.x), label: tick.label })),
    yTicks,
    xTitle: spec.xLabel,
    yTitle: 'test accuracy (%)',
    font: { tick: FONT.tick, title: FONT.label },
  });
  for (const [fraction, style] of [[data.baseline.test_accuracy, BASELINE], [data.desired.test_accuracy, BOUND]] as const) {
    shapes.push({ kind: 'line', points: [[PLOT.left, yOf(fraction)], [PLOT.right, yOf(fraction)]], color: style.color, width: 1, dash: style.dash });
  }

  spec.series.forEach((series, index) => {
    const style = seriesStyle(index);
    // Lines from the shared baseline leave its marker itself; the measured points are offset.
    const points = series.points.map((point, at) => [xOf(point.x) + (series.startsAtBaseline && at === 0 ? 0 : offset(index)), yOf(point.accuracy)] as const);
    if (points.length > 1) shapes.push({ kind: 'line', points, color: style.color, width: 1.4 });
    for (const [x, y] of series.startsAtBaseline ? points.slice(1) : points) {
      shapes.push({ kind: 'marker', shape: style.marker, x, y, size: MARKER_SIZE, color: style.color, fill: style.color });
    }
  });
  if (spec.baselineAt !== undefined) {
    shapes.push({ kind: 'marker', shape: 'circle', x: xOf(spec.baselineAt), y: yOf(data.baseline.test_accuracy), size: MARKER_SIZE, color: BASELINE.color, fill: '#ffffff' });
  }
  for (const point of spec.paper) {
    shapes.push({ kind: 'marker', shape: PAPER.marker, x: xOf(point.x) + offset(slots - 1), y: yOf(point.accuracy), size: MARKER_SIZE + 1, color: PAPER.color, fill: '#ffffff' });
  }

  const entries: { label: string; sample: (x: number, y: number) => Shape[] }[] = [
    ...spec.series.map((series, index) => {
      const style = seriesStyle(index);
      return {
        label: series.label,
        sample: (x: number, y: number): Shape[] => [
          { kind: 'line', points: [[x, y], [x + 18, y]], color: style.color, width: 1.4 },
          { kind: 'marker', shape: style.marker, x: x + 9, y, size: MARKER_SIZE, color: style.color, fill: style.color },
        ],
      };
    }),
    ...[BASELINE, BOUND].map((style) => ({
      label: style.label,
      sample: (x: number, y: number): Shape[] => [{ kind: 'line', points: [[x, y], [x + 18, y]], color: style.color, width: 1, dash: style.dash }],
    })),
    ...(spec.paper.length > 0
      ? [{ label: PAPER.label, sample: (x: number, y: number): Shape[] => [{ kind: 'marker', shape: PAPER.marker, x: x + 9, y, size: MARKER_SIZE + 1, color: PAPER.color, fill: '#ffffff' }] }]
      : []),
  ];
  const legend = legendLayout(entries.map((entry) => entry.label));
  const legendTop = bottom + 8 + FONT.tick + FONT.label + 12;
  entries.forEach((entry, index) => {
    const x = 8 + (index % legend.columns) * legend.columnWidth;
    const y = legendTop + Math.floor(index / legend.columns) * LEGEND_ROW;
    shapes.push(...entry.sample(x, y), { kind: 'text', x: x + 24, y, text: entry.label, size: FONT.legend, anchor: 'start', middle: true });
  });
  return { title: spec.title, width: WIDTH, height: legendTop + (legend.rows - 1) * LEGEND_ROW + 12, shapes };
}

/** Whether the rows include settings under a pixel budget (budget > 0): the budget plot's data. */
export const hasBudgetRows = (data: ReportData) => data.rows.some((row) => row.budget > 0 && row.test_accuracy !== null);
export const hasStepRows = (data: ReportData) => data.rows.some((row) => row.k !== null && row.test_accuracy !== null);

/** Test accuracy against k: one line per method, direction and budget, from the baseline at k = 0. */
export function accuracyByStepsFigure(data: ReportData): Figure {
  const rows = data.rows.filter((row) => row.k !== null && row.test_accuracy !== null);
  const label = seriesLabeller(rows, ['method', 'direction', 'budget']);
  const series = new Map<string, Point[]>();
  for (const row of rows) {
    const key = JSON.stringify([row.method, row.direction, row.budget]);
    if (!series.has(key)) series.set(key, row.k === 0 ? [] : [{ x: 0, accuracy: data.baseline.test_accuracy }]);
    series.get(key)!.push({ x: row.k!, accuracy: row.test_accuracy! });
  }
  const labels = new Map(rows.map((row) => [JSON.stringify([row.method, row.direction, row.budget]), label(row)]));
  const largestK = Math.max(1, ...rows.map((row) => row.k!));
  return drawPlot(data, {
    title: 'Test accuracy of the fair model against the number of perturbation steps k',
    xLabel: 'perturbation steps k',
    ticks: Array.from({ length: largestK + 1 }, (_, k) => ({ x: k, label: String(k) })),
    xRange: [-0.35, largestK + 0.35],
    series: [...series].map(([key, points]) => ({ label: labels.get(key)!, points, startsAtBaseline: points[0].x === 0 && !rows.some((row) => row.k === 0) })),
    paper: data.paper.toward.filter((point) => point.k <= largestK).map((point) => ({ x: point.k, accuracy: point.test_accuracy })),
    baselineAt: 0,
  });
}

/** Test accuracy against the budget (budget > 0 only): one line per method and direction, at each budget its last step. */
export function accuracyByBudgetFigure(data: ReportData): Figure {
  const rows = data.rows.filter((row) => row.budget > 0 && row.test_accuracy !== null);
  const label = seriesLabeller(rows, ['method', 'direction']);
  const last = new Map<string, ReportRow>();
  for (const row of rows) {
    const key = JSON.stringify([row.method, row.direction, row.budget]);
    const previous = last.get(key);
    if (!previous || (row.k ?? Infinity) > (previous.k ?? Infinity)) last.set(key, row);
  }
  const series = new Map<string, { label: string; points: Point[] }>();
  for (const row of last.values()) {
    const key = JSON.stringify([row.method, row.direction]);
    if (!series.has(key)) series.set(key, { label: label(row), points: [] });
    series.get(key)!.points.push({ x: row.budget, accuracy: row.test_accuracy! });
  }
  const budgets = [...new Set(rows.map((row) => row.budget))].sort((a, b) => a - b);
  const largest = budgets[budgets.length - 1];
  return drawPlot(data, {
    title: 'Test accuracy of the fair model against the pixel budget',
    xLabel: 'budget (largest change of a pixel, levels)',
    ticks: budgets.map((budget) => ({ x: budget, label: String(budget) })),
    xRange: [budgets[0] - 0.4, largest + 0.4],
    series: [...series.values()].map((entry) => ({ ...entry, points: entry.points.sort((a, b) => a.x - b.x), startsAtBaseline: false })),
    // k unit steps move a pixel by at most k levels: the paper's k-step figures stand at budget k.
    paper: data.paper.toward.filter((point) => point.k >= budgets[0] && point.k <= largest).map((point) => ({ x: point.k, accuracy: point.test_accuracy })),
  });
}
