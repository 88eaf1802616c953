// The auditor's plots, as figures (report/figure.ts) rendered to SVG: public and private accuracy
// against k for both directions; the detector's ROC curves by budget; the private sample size
// needed against the inflation.

import type { AuditData, AuditReport } from './audit-tables.js';
import { DIRECTIONS, type Direction } from '../numerics/perturbation.js';
import { axesShapes, renderSvg, type Figure, type Shape } from './figure.js';

/** In points; rendered at twice that in SVG, 760 x 420. */
const WIDTH = 380;
const HEIGHT = 210;
const PLOT = { left: 36, top: 12, right: 250, bottom: 180 };
const LEGEND = { left: 261, top: 18, lineHeight: 12 };
const FONT = { tick: 6, title: 6.5 };
const MARKER_SIZE = 4.5;
const LINE_WIDTH = 1;
const CHANCE = { color: '#888888', width: 0.75, dash: [2, 2] };
const DIRECTION_COLOR: Record<Direction, string> = { toward: '#1f5fbf', away: '#c8312b' };
const BUDGET_COLORS = ['#1f5fbf', '#c8312b', '#2a8f3c', '#8a4fbf', '#c77f12'];

interface Axis {
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly number[];
  readonly label: (value: number) => string;
}

interface LegendEntry {
  readonly label: string;
  readonly sample: (x: number, y: number) => Shape[];
}

type Place = (value: number) => number;

/** A tick spacing of at most eight intervals on [lowest, highest], rounded outward. */
function linearAxis(lowest: number, highest: number, clampLow: number, clampHigh: number): Axis {
  const low = Math.max(clampLow, lowest - 1);
  const high = Math.min(clampHigh, highest + 1);
  const tick = [1, 2, 5, 10, 20, 25].find((step) => (high - low) / step <= 8) ?? 50;
  const min = Math.floor(low / tick) * tick;
  const max = Math.ceil(high / tick) * tick;
  const ticks: number[] = [];
  for (let value = min; value <= max + 1e-9; value += tick) ticks.push(value);
  return { min, max, ticks, label: (value) => String(Math.round(value * 100) / 100) };
}

const marker = (shape: 'circle' | 'square', x: number, y: number, color: string, filled: boolean): Shape => ({
  kind: 'marker',
  shape,
  x,
  y,
  size: MARKER_SIZE,
  color,
  fill: filled ? color : '#ffffff',
});

const line = (points: readonly (readonly [number, number])[], color: string, dash?: readonly number[]): Shape => ({ kind: 'line', points, color, width: LINE_WIDTH, dash });

const lineSample = (color: string, dash?: readonly number[]) => (x: number, y: number) => [line([[x, y], [x + 14, y]], color, dash)];

/** The figure: axes and ticks, the data `body` draws, and the legend at the right. */
function plot(title: string, xAxis: Axis, yAxis: Axis, xTitle: string, yTitle: string, body: (xOf: Place, yOf: Place) => Shape[], legend: LegendEntry[]): Figure {
  const xOf = (value: number) => PLOT.left + ((value - xAxis.min) / (xAxis.max - xAxis.min)) * (PLOT.right - PLOT.left);
  const yOf = (value: number) => PLOT.bottom - ((value - yAxis.min) / (yAxis.max - yAxis.min)) * (PLOT.bottom - PLOT.top);
  const shapes = axesShapes({
    area: PLOT,
    xTicks: xAxis.ticks.map((tick) => ({ x: xOf(tick), label: xAxis.label(tick) })),
    yTicks: yAxis.ticks.map((tick) => ({ y: yOf(tick), label: yAxis.label(tick) })),
    xTitle,
    yTitle,
    font: FONT,
  });
  shapes.push(...body(xOf, yOf));
  legend.forEach((entry, index) => {
    const y = LEGEND.top + index * LEGEND.lineHeight;
    shapes.push(...entry.sample(LEGEND.left, y), { kind: 'text', x: LEGEND.left + 18, y, text: entry.label, size: FONT.tick, anchor: 'start', middle: true });
  });
  return { title, width: WIDTH, height: HEIGHT, shapes };
}

/** Public (filled markers, solid) and private (open markers, dashed) accuracy against k; k = 0 is the fair model. */
export function renderPublicPrivatePlot(data: AuditData): string {
  const fair = data.rows.find((row) => row.direction === null);
  const largestK = Math.max(1, ...data.rows.map((row) => row.k));
  const percents = data.rows.flatMap((row) => [row.public_accuracy * 100, row.private_accuracy * 100]);
  const yAxis = linearAxis(Math.min(...percents), Math.max(...percents), 0, 100);
  const xAxis: Axis = { min: -0.3, max: largestK + 0.3, ticks: Array.from({ length: largestK + 1 }, (_, k) => k), label: String };
  const parts = [
    { part: 'public', accuracy: (row: (typeof data.rows)[number]) => row.public_accuracy, dash: undefined, filled: true },
    { part: 'private', accuracy: (row: (typeof data.rows)[number]) => row.private_accuracy, dash: [3, 2], filled: false },
  ];
  const legend: LegendEntry[] = [];
  const body = (xOf: Place, yOf: Place) => {
    const shapes: Shape[] = [];
    for (const direction of DIRECTIONS) {
      const color = DIRECTION_COLOR[direction];
      const shape = direction === 'toward' ? 'circle' : 'square';
      const steps = data.rows.filter((row) => row.direction === direction).sort((a, b) => a.k - b.k);
      if (steps.length === 0) continue;
      for (const { part, accuracy, dash, filled } of parts) {
        const rows = fair ? [fair, ...steps] : steps;
        const points = rows.map((row) => [xOf(row.k), yOf(accuracy(row) * 100)] as const);
        shapes.push(line(points, color, dash), ...points.map(([x, y]) => marker(shape, x, y, color, filled)));
        legend.push({ label: `${direction}, ${part} part`, sample: (x, y) => [...lineSample(color, dash)(x, y), marker(shape, x + 7, y, color, filled)] });
      }
    }
    return shapes;
  };
  const figure = plot('Public and private test accuracy against the perturbation steps k', xAxis, yAxis, 'perturbation steps k (0: the fair model)', 'test accuracy (%)', body, legend);
  return renderSvg(figure);
}

/** The detector's ROC curve on the vendor's images, one per budget, with the chance diagonal. */
export function renderRocPlot(report: AuditReport): string {
  const unit: Axis = { min: 0, max: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], label: (value) => value.toFixed(1) };
  const detections = [...report.detector.detections].sort((a, b) => a.budget - b.budget);
  const colorOf = (index: number) => BUDGET_COLORS[index % BUDGET_COLORS.length];
  const legend: LegendEntry[] = detections.map((detection, index) => ({
    label: `budget ${detection.budget}: AUC ${detection.auc.toFixed(3)}`,
    sample: lineSample(colorOf(index)),
  }));
  legend.push({ label: 'chance (AUC 0.5)', sample: (x, y) => [{ kind: 'line', points: [[x, y], [x + 14, y]], ...CHANCE }] });
  const body = (xOf: Place, yOf: Place): Shape[] => [
    { kind: 'line', points: [[xOf(0), yOf(0)], [xOf(1), yOf(1)]], ...CHANCE },
    ...detections.map((detection, index) => line(detection.roc.map(([fpr, tpr]) => [xOf(fpr), yOf(tpr)] as const), colorOf(index))),
  ];
  const figure = plot(
    "ROC curves of the blind detector on the vendor's delivered training images",
    unit,
    unit,
    'false positive rate (clean training images flagged)',
    'true positive rate (delivered images flagged)',
    body,
    legend,
  );
  return renderSvg(figure);
}

/** Private images needed (log scale) against the inflation; inflations out of reach are listed in the legend. */
export function renderPowerPlot(data: AuditData): string {
  const power = data.power;
  const reached = power.rows.filter((row): row is typeof row & { private_count: number } => row.private_count !== null);
  const inflations = power.rows.map((row) => row.inflation_points);
  const xAxis = linearAxis(Math.min(0, ...inflations), Math.max(1, ...inflations), 0, Infinity);
  const counts = reached.map((row) => row.private_count);
  const lowest = Math.floor(Math.log10(Math.max(1, Math.min(10, ...counts))));
  const highest = Math.ceil(Math.log10(Math.max(10, power.max_private, ...counts)));
  const yAxis: Axis = {
    min: lowest,
    max: highest,
    ticks: Array.from({ length: highest - lowest + 1 }, (_, i) => lowest + i),
    label: (value) => (10 ** value).toLocaleString('en-US'),
  };
  const color = '#1f5fbf';
  const unreached = power.rows.filter((row) => row.private_count === null).map((row) => row.inflation_points);
  const legend: LegendEntry[] = [
    { label: `α = ${data.alpha}, power ${Math.round(power.target_power * 100)} %`, sample: (x, y) => [...lineSample(color)(x, y), marker('circle', x + 7, y, color, true)] },
    { label: `public part: ${power.public_count.toLocaleString('en-US')} images`, sample: () => [] },
    { label: `search limit: ${power.max_private.toLocaleString('en-US')}`, sample: (x, y) => [{ kind: 'line', points: [[x, y], [x + 14, y]], ...CHANCE }] },
  ];
  if (unreached.length > 0) legend.push({ label: `out of reach: ${unreached.join(', ')} pts`, sample: () => [] });
  const body = (xOf: Place, yOf: Place): Shape[] => {
    const points = reached.map((row) => [xOf(row.inflation_points), yOf(Math.log10(row.private_count))] as const);
    const limit = yOf(Math.log10(power.max_private));
    return [
      { kind: 'line', points: [[PLOT.left, limit], [PLOT.right, limit]], ...CHANCE },
      ...(points.length > 0 ? [line(points, color)] : []),
      ...points.map(([x, y]) => marker('circle', x, y, color, true)),
    ];
  };
  const figure = plot('Private images an auditor needs against the inflation of the public accuracy', xAxis, yAxis, 'inflation of the public accuracy (points)', 'private images needed (log scale)', body, legend);
  return renderSvg(figure);
}
