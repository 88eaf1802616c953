// The auditor's plots as hand-written SVG: public and private accuracy against k for both
// directions; the detector's ROC curves by budget; the private sample size needed against the
// inflation.

import type { AuditData, AuditReport } from './audit-tables.js';
import { DIRECTIONS, type Direction } from '../numerics/perturbation.js';

const WIDTH = 760;
const HEIGHT = 420;
const PLOT = { left: 72, top: 24, right: 500, bottom: 360 };
const LEGEND = { left: 522, top: 36, lineHeight: 24 };
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
const DIRECTION_COLOR: Record<Direction, string> = { toward: '#1f5fbf', away: '#c8312b' };
const BUDGET_COLORS = ['#1f5fbf', '#c8312b', '#2a8f3c', '#8a4fbf', '#c77f12'];

const number = (value: number) => value.toFixed(1);
const xmlText = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

interface Axis {
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly number[];
  readonly label: (value: number) => string;
}

interface LegendEntry {
  readonly label: string;
  readonly sample: (x: number, y: number) => string;
}

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

function marker(shape: 'circle' | 'square', x: number, y: number, color: string, filled: boolean): string {
  const fill = filled ? color : '#ffffff';
  return shape === 'circle'
    ? `<circle cx="${number(x)}" cy="${number(y)}" r="4.5" fill="${fill}" stroke="${color}" stroke-width="1.5"/>`
    : `<rect x="${number(x - 4)}" y="${number(y - 4)}" width="8" height="8" fill="${fill}" stroke="${color}" stroke-width="1.5"/>`;
}

/** The frame of a plot: grid, ticks and labels on both axes; `body` draws the data. */
function frame(xAxis: Axis, yAxis: Axis, xTitle: string, yTitle: string, body: (xOf: (v: number) => number, yOf: (v: number) => number) => string[], legend: LegendEntry[]): string {
  const xOf = (value: number) => PLOT.left + ((value - xAxis.min) / (xAxis.max - xAxis.min)) * (PLOT.right - PLOT.left);
  const yOf = (value: number) => PLOT.bottom - ((value - yAxis.min) / (yAxis.max - yAxis.min)) * (PLOT.bottom - PLOT.top);
  const svg = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<g ${FONT} font-size="12" fill="#222222">`,
  ];
  for (const tick of yAxis.ticks) {
    const y = number(yOf(tick));
    svg.push(`<line x1="${PLOT.left}" y1="${y}" x2="${PLOT.right}" y2="${y}" stroke="#e3e3e3" stroke-width="1"/>`);
    svg.push(`<text x="${PLOT.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${xmlText(yAxis.label(tick))}</text>`);
  }
  for (const tick of xAxis.ticks) {
    const x = number(xOf(tick));
    svg.push(`<line x1="${x}" y1="${PLOT.bottom}" x2="${x}" y2="${PLOT.bottom + 5}" stroke="#222222"/>`);
    svg.push(`<text x="${x}" y="${PLOT.bottom + 20}" text-anchor="middle">${xmlText(xAxis.label(tick))}</text>`);
  }
  svg.push(
    `<path d="M${PLOT.left},${PLOT.top} V${PLOT.bottom} H${PLOT.right}" fill="none" stroke="#222222" stroke-width="1"/>`,
    `<text x="${number((PLOT.left + PLOT.right) / 2)}" y="${PLOT.bottom + 44}" text-anchor="middle" font-size="13">${xmlText(xTitle)}</text>`,
    `<text transform="translate(22 ${number((PLOT.top + PLOT.bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="13">${xmlText(yTitle)}</text>`,
    ...body(xOf, yOf),
  );
  legend.forEach((entry, index) => {
    const y = LEGEND.top + index * LEGEND.lineHeight;
    svg.push(entry.sample(LEGEND.left, y));
    svg.push(`<text x="${LEGEND.left + 36}" y="${y}" dominant-baseline="middle">${xmlText(entry.label)}</text>`);
  });
  svg.push('</g>', '</svg>', '');
  return svg.join('\n');
}

const polyline = (points: readonly [number, number][], color: string, dash = '') =>
  `<polyline points="${points.map(([x, y]) => `${number(x)},${number(y)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;

const lineSample = (color: string, dash = '') => (x: number, y: number) =>
  `<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;

/** Public (filled markers, solid) and private (open markers, dashed) accuracy against k; k = 0 is the fair model. */
export function renderPublicPrivatePlot(data: AuditData): string {
  const fair = data.rows.find((row) => row.direction === null);
  const largestK = Math.max(1, ...data.rows.map((row) => row.k));
  const percents = data.rows.flatMap((row) => [row.public_accuracy * 100, row.private_accuracy * 100]);
  const yAxis = linearAxis(Math.min(...percents), Math.max(...percents), 0, 100);
  const xAxis: Axis = { min: -0.3, max: largestK + 0.3, ticks: Array.from({ length: largestK + 1 }, (_, k) => k), label: String };
  const parts = [
    { part: 'public', accuracy: (row: (typeof data.rows)[number]) => row.public_accuracy, dash: '', filled: true },
    { part: 'private', accuracy: (row: (typeof data.rows)[number]) => row.private_accuracy, dash: '6 4', filled: false },
  ];
  const legend: LegendEntry[] = [];
  const body = (xOf: (v: number) => number, yOf: (v: number) => number) => {
    const out: string[] = [];
    for (const direction of DIRECTIONS) {
      const color = DIRECTION_COLOR[direction];
      const shape = direction === 'toward' ? 'circle' : 'square';
      const steps = data.rows.filter((row) => row.direction === direction).sort((a, b) => a.k - b.k);
      if (steps.length === 0) continue;
      for (const { part, accuracy, dash, filled } of parts) {
        const rows = fair ? [fair, ...steps] : steps;
        const points = rows.map((row) => [xOf(row.k), yOf(accuracy(row) * 100)] as [number, number]);
        out.push(`<g class="series" data-direction="${direction}" data-part="${part}">`, polyline(points, color, dash));
        for (const [x, y] of points) out.push(marker(shape, x, y, color, filled));
        out.push('</g>');
        legend.push({ label: `${direction}, ${part} part`, sample: (x, y) => lineSample(color, dash)(x, y) + marker(shape, x + 14, y, color, filled) });
      }
    }
    return out;
  };
  return frame(xAxis, yAxis, 'perturbation steps k (0: the fair model)', 'test accuracy (%)', body, legend);
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
  legend.push({ label: 'chance (AUC 0.5)', sample: lineSample('#888888', '4 4') });
  const body = (xOf: (v: number) => number, yOf: (v: number) => number) => [
    `<line x1="${number(xOf(0))}" y1="${number(yOf(0))}" x2="${number(xOf(1))}" y2="${number(yOf(1))}" stroke="#888888" stroke-width="1.5" stroke-dasharray="4 4"/>`,
    ...detections.map(
      (detection, index) =>
        `<g class="roc" data-budget="${detection.budget}">${polyline(
          detection.roc.map(([fpr, tpr]) => [xOf(fpr), yOf(tpr)]),
          colorOf(index),
        )}</g>`,
    ),
  ];
  return frame(unit, unit, "false positive rate (clean training images flagged)", 'true positive rate (delivered images flagged)', body, legend);
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
    { label: `α = ${data.alpha}, power ${Math.round(power.target_power * 100)} %`, sample: (x, y) => lineSample(color)(x, y) + marker('circle', x + 14, y, color, true) },
    {
      label: `public part: ${power.public_count.toLocaleString('en-US')} images`,
      sample: () => '',
    },
    { label: `search limit: ${power.max_private.toLocaleString('en-US')}`, sample: lineSample('#888888', '4 4') },
  ];
  if (unreached.length > 0) legend.push({ label: `out of reach: ${unreached.join(', ')} pts`, sample: () => '' });
  const body = (xOf: (v: number) => number, yOf: (v: number) => number) => {
    const points = reached.map((row) => [xOf(row.inflation_points), yOf(Math.log10(row.private_count))] as [number, number]);
    const limit = number(yOf(Math.log10(power.max_private)));
    return [
      `<line x1="${PLOT.left}" y1="${limit}" x2="${PLOT.right}" y2="${limit}" stroke="#888888" stroke-width="1.5" stroke-dasharray="4 4"/>`,
      '<g class="power">',
      polyline(points, color),
      ...points.map(([x, y]) => marker('circle', x, y, color, true)),
      '</g>',
    ];
  };
  return frame(xAxis, yAxis, 'inflation of the public accuracy (points)', 'private images needed (log scale)', body, legend);
}
