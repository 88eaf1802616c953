// The paper-style report: the accuracy table after k perturbation steps in both directions
// (Markdown, CSV, LaTeX, JSON rows), a plot of accuracy against k, and a grid of images
// showing that the perturbation is invisible.

import { defineStage, type JsonValue } from '../pipeline/stage.js';
import { tableToImageSet } from '../data/tables.js';
import { collectReport, renderCsv, renderLatex, renderMarkdown } from './report-tables.js';
import { renderAccuracyPlot } from './report-plot.js';
import { renderImageGrid } from './report-grid.js';

const utf8 = (text: string) => new TextEncoder().encode(text);

export const reportStage = defineStage({
  name: 'report',
  version: 1,
  description: 'Tables (Markdown, CSV, LaTeX, JSON), an accuracy-versus-k plot and an image grid for the paper',
  params: {
    grid_images: { type: 'integer', default: 8, min: 1, max: 64, description: 'Images in the grid, the first ones of the training set' },
    amplify: { type: 'number', default: 20, min: 1, description: 'Factor on the pixel difference in the grid (mid-grey = unchanged)' },
  },
  inputs: {
    baseline: { kind: 'metrics', description: 'Evaluation of the fair model trained on the clean images (k = 0)' },
    desired: { kind: 'metrics', description: "The desired model's accuracy on the test set it was fit on (the bound)" },
    steps: { kind: 'metrics', many: true, description: 'Evaluations after each step, keyed like evaluate@direction=toward,k=2' },
    perturbations: { kind: 'metrics', many: true, description: 'Perturbation statistics, keyed like perturb@direction=away,k=3' },
    original: { kind: 'table', description: 'The clean training images' },
    perturbed: { kind: 'table', description: 'The training images after the largest toward step' },
  },
  outputs: {
    markdown: { kind: 'blob', description: 'The table in Markdown, with its notes' },
    csv: { kind: 'blob', description: 'The table as CSV (one decimal, blank where unknown)' },
    latex: { kind: 'blob', description: 'The table as a booktabs tabular' },
    rows: { kind: 'json', description: 'Machine-readable rows (direction, k, accuracy, gain, perturbation statistics), baseline and bound' },
    plot: { kind: 'blob', description: 'SVG: test accuracy against k for both directions, with references' },
    grid: { kind: 'blob', description: 'PNG: original, perturbed and amplified difference of a few training images' },
  },
  async run(inputs, params) {
    const byInstance = (items: typeof inputs.steps) => Object.fromEntries(items.map((item) => [item.instance, item.value]));
    const data = collectReport({ ...inputs, steps: byInstance(inputs.steps), perturbations: byInstance(inputs.perturbations) });
    const grid = await renderImageGrid(tableToImageSet(inputs.original), tableToImageSet(inputs.perturbed), {
      images: params.grid_images,
      amplify: params.amplify,
    });
    return {
      markdown: { extension: 'md', bytes: utf8(renderMarkdown(data)) },
      csv: { extension: 'csv', bytes: utf8(renderCsv(data)) },
      latex: { extension: 'tex', bytes: utf8(renderLatex(data)) },
      rows: data as unknown as JsonValue,
      plot: { extension: 'svg', bytes: utf8(renderAccuracyPlot(data)) },
      grid: { extension: 'png', bytes: grid },
    };
  },
});
