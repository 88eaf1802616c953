// Every table and figure of a report as named files: what `pipeline report --out DIR` writes and
// what the HTML report embeds. Tables and plots are drawn from the rows; the grid is the report
// stage's PNG, also wrapped in a one-page PDF.

import { renderPdf, renderSvg, type Figure } from './figure.js';
import { accuracyByBudgetFigure, accuracyByStepsFigure, hasBudgetRows, hasStepRows } from './plots.js';
import { renderCompactLatex, renderCsv, renderJson, renderLatex, renderMarkdown } from './tables.js';
import type { ReportData } from './data.js';

export interface ReportFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** For figures: what it shows, for a caption or an alt text. */
  readonly caption?: string;
}

const utf8 = (text: string) => new TextEncoder().encode(text);

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  if (png.byteLength < 24 || view.getUint32(12) !== 0x49484452) throw new Error('not a PNG file (no IHDR chunk)');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** The grid as a figure: the PNG placed at 144 pixels per inch. */
function gridFigure(grid: Uint8Array): Figure {
  const { width, height } = pngSize(grid);
  return { title: 'Training images: original, perturbed, signed difference', width: width / 2, height: height / 2, shapes: [{ kind: 'image', x: 0, y: 0, width: width / 2, height: height / 2, png: grid }] };
}

const PLOT_CAPTIONS = {
  steps: 'Test accuracy of the fair model trained on the perturbed images, against the number of steps k (k = 0: the clean images).',
  budget: 'Test accuracy against the budget (the largest change of a pixel, in levels), at each budget after its last step.',
  grid: 'Training images: originals, the same images perturbed, and the signed difference on a diverging colour scale.',
};

/** The figures the data has: accuracy against k, against the budget (only with budget rows), the grid. */
export function reportFigures(data: ReportData, grid: Uint8Array): { name: string; figure: Figure; caption: string }[] {
  return [
    ...(hasStepRows(data) ? [{ name: 'accuracy-k', figure: accuracyByStepsFigure(data), caption: PLOT_CAPTIONS.steps }] : []),
    ...(hasBudgetRows(data) ? [{ name: 'accuracy-budget', figure: accuracyByBudgetFigure(data), caption: PLOT_CAPTIONS.budget }] : []),
    { name: 'grid', figure: gridFigure(grid), caption: PLOT_CAPTIONS.grid },
  ];
}

/** Tables (Markdown, CSV, full and compact LaTeX, JSON) and figures (SVG and PDF; the grid as PNG and PDF). */
export async function reportFiles(data: ReportData, grid: Uint8Array): Promise<ReportFile[]> {
  const files: ReportFile[] = [
    { name: 'report.md', bytes: utf8(renderMarkdown(data)) },
    { name: 'report.csv', bytes: utf8(renderCsv(data)) },
    { name: 'report.tex', bytes: utf8(renderLatex(data)) },
    { name: 'report-compact.tex', bytes: utf8(renderCompactLatex(data)) },
    { name: 'report.json', bytes: utf8(renderJson(data)) },
  ];
  for (const { name, figure, caption } of reportFigures(data, grid)) {
    files.push(name === 'grid' ? { name: 'grid.png', bytes: grid, caption } : { name: `${name}.svg`, bytes: utf8(renderSvg(figure)), caption });
    files.push({ name: `${name}.pdf`, bytes: await renderPdf([figure], figure.title), caption });
  }
  return files;
}
