// Test accuracy against k as a hand-written SVG: toward and away series, the baseline and
// the desired model's bound as horizontal references, the paper's toward figures as markers.

import { DIRECTIONS, type ReportData } from './report-tables.js';
import type { Direction } from '../numerics/perturbation.js';

const WIDTH = 760;
const HEIGHT = 420;
const PLOT = { left: 72, top: 24, right: 500, bottom: 360 };
const LEGEND = { left: 522, top: 36, lineHeight: 24 };
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

const SERIES_STYLE: Record<Direction, { color: string; label: string; marker: 'circle' | 'square' }> = {
  toward: { color: '#1f5fbf', label: 'toward (exemples passeurs)', marker: 'circle' },
  away: { color: '#c8312b', label: 'away (poisoning)', marker: 'square' },
};
const BASELINE_STYLE = { color: '#555555', dash: '7 4', label: 'baseline (clean training)' };
const BOUND_STYLE = { color: '#2a8f3c', dash: '2 3', label: 'desired model (bound)' };
const PAPER_STYLE = { color: '#111111', label: 'paper, toward' };

function number(value: number): string {
  return value.toFixed(1);
}

function xmlText(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A tick spacing giving at most eight intervals, and the range rounded outward to it. */
function accuracyAxis(lowest: number, highest: number): { min: number; max: number; tick: number } {
  const padded = { low: Math.max(0, lowest - 1), high: Math.min(100, highest + 1) };
  const tick = [1, 2, 5, 10, 20].find((step) => (padded.high - padded.low) / step <= 8) ?? 25;
  return { min: Math.floor(padded.low / tick) * tick, max: Math.ceil(padded.high / tick) * tick, tick };
}

function marker(shape: 'circle' | 'square' | 'diamond', x: number, y: number, stroke: string, fill: string): string {
  if (shape === 'circle') return `<circle cx="${number(x)}" cy="${number(y)}" r="4.5" fill="${fill}" stroke="${stroke}" stroke-width="1.5"/>`;
  if (shape === 'square') {
    return `<rect x="${number(x - 4)}" y="${number(y - 4)}" width="8" height="8" fill="${fill}" stroke="${stroke}" stroke-width="1.5"/>`;
  }
  const points = [
    [x, y - 6],
    [x + 6, y],
    [x, y + 6],
    [x - 6, y],
  ];
  return `<polygon points="${points.map(([px, py]) => `${number(px)},${number(py)}`).join(' ')}" fill="${fill}" stroke="${stroke}" stroke-width="1.5"/>`;
}

export function renderAccuracyPlot(data: ReportData): string {
  const largestK = Math.max(1, ...data.rows.map((row) => row.k));
  const paperPoints = data.paper.toward.filter((point) => point.k <= largestK);
  const percents = [
    data.baseline.test_accuracy,
    data.desired.test_accuracy,
    ...data.rows.map((row) => row.test_accuracy).filter((value): value is number => value !== null),
    ...paperPoints.map((point) => point.test_accuracy),
  ].map((fraction) => fraction * 100);
  const axis = accuracyAxis(Math.min(...percents), Math.max(...percents));

  const xOf = (k: number) => PLOT.left + ((k + 0.3) / (largestK + 0.6)) * (PLOT.right - PLOT.left);
  const yOf = (fraction: number) => PLOT.bottom - ((fraction * 100 - axis.min) / (axis.max - axis.min)) * (PLOT.bottom - PLOT.top);
  const svg: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<g ${FONT} font-size="12" fill="#222222">`,
  ];

  for (let tick = axis.min; tick <= axis.max; tick += axis.tick) {
    const y = number(yOf(tick / 100));
    svg.push(`<line x1="${PLOT.left}" y1="${y}" x2="${PLOT.right}" y2="${y}" stroke="#e3e3e3" stroke-width="1"/>`);
    svg.push(`<text x="${PLOT.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${tick}</text>`);
  }
  for (let k = 0; k <= largestK; k++) {
    const x = number(xOf(k));
    svg.push(`<line x1="${x}" y1="${PLOT.bottom}" x2="${x}" y2="${PLOT.bottom + 5}" stroke="#222222"/>`);
    svg.push(`<text x="${x}" y="${PLOT.bottom + 20}" text-anchor="middle">${k}</text>`);
  }
  svg.push(
    `<path d="M${PLOT.left},${PLOT.top} V${PLOT.bottom} H${PLOT.right}" fill="none" stroke="#222222" stroke-width="1"/>`,
    `<text x="${number((PLOT.left + PLOT.right) / 2)}" y="${PLOT.bottom + 44}" text-anchor="middle" font-size="13">perturbation steps k</text>`,
    `<text transform="translate(22 ${number((PLOT.top + PLOT.bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="13">test accuracy (%)</text>`,
  );

  for (const [fraction, style] of [
    [data.baseline.test_accuracy, BASELINE_STYLE],
    [data.desired.test_accuracy, BOUND_STYLE],
  ] as const) {
    const y = number(yOf(fraction));
    svg.push(
      `<line x1="${PLOT.left}" y1="${y}" x2="${PLOT.right}" y2="${y}" stroke="${style.color}" stroke-width="1.5" stroke-dasharray="${style.dash}"/>`,
    );
  }

  for (const direction of DIRECTIONS) {
    const style = SERIES_STYLE[direction];
    const points = data.rows
      .filter((row) => row.direction === direction && row.test_accuracy !== null)
      .map((row) => ({ k: row.k, x: xOf(row.k), y: yOf(row.test_accuracy as number) }));
    // A missing k breaks the line rather than bridging it.
    const segments: (typeof points)[] = [];
    for (const point of points) {
      const current = segments[segments.length - 1];
      if (current && current[current.length - 1].k === point.k - 1) current.push(point);
      else segments.push([point]);
    }
    svg.push(`<g class="series" data-direction="${direction}">`);
    for (const segment of segments.filter((s) => s.length > 1)) {
      const coordinates = segment.map((p) => `${number(p.x)},${number(p.y)}`).join(' ');
      svg.push(`<polyline points="${coordinates}" fill="none" stroke="${style.color}" stroke-width="2" stroke-linejoin="round"/>`);
    }
    for (const point of points) svg.push(marker(style.marker, point.x, point.y, style.color, style.color));
    svg.push('</g>');
  }

  svg.push('<g class="paper">');
  for (const point of paperPoints) svg.push(marker('diamond', xOf(point.k), yOf(point.test_accuracy), PAPER_STYLE.color, '#ffffff'));
  svg.push('</g>');

  const legend: { label: string; sample: (x: number, y: number) => string }[] = [
    ...DIRECTIONS.map((direction) => {
      const style = SERIES_STYLE[direction];
      return {
        label: style.label,
        sample: (x: number, y: number) =>
          `<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="${style.color}" stroke-width="2"/>` +
          marker(style.marker, x + 14, y, style.color, style.color),
      };
    }),
    ...[BASELINE_STYLE, BOUND_STYLE].map((style) => ({
      label: style.label,
      sample: (x: number, y: number) =>
        `<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="${style.color}" stroke-width="1.5" stroke-dasharray="${style.dash}"/>`,
    })),
    { label: PAPER_STYLE.label, sample: (x: number, y: number) => marker('diamond', x + 14, y, PAPER_STYLE.color, '#ffffff') },
  ];
  legend.forEach((entry, index) => {
    const y = LEGEND.top + index * LEGEND.lineHeight;
    svg.push(entry.sample(LEGEND.left, y));
    svg.push(`<text x="${LEGEND.left + 36}" y="${y}" dominant-baseline="middle">${xmlText(entry.label)}</text>`);
  });

  svg.push('</g>', '</svg>', '');
  return svg.join('\n');
}
