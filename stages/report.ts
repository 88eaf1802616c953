// The paper-style report: the rows (one per method, direction, budget and k, read from the
// producing instances' matrix coordinates and the perturbation statistics), the full and the
// compact table, and a labelled grid of images showing how little the perturbation changes.
// The figures and the HTML report are drawn from these by `pipeline report` (report/).

import { defineStage, type JsonValue } from '../pipeline/stage.js';
import { tableToImageSet } from '../data/tables.js';
import { collectReport } from '../report/data.js';
import { renderCompactLatex, renderCsv, renderLatex, renderMarkdown } from '../report/tables.js';
import { renderImageGrid } from '../report/grid.js';

const utf8 = (text: string) => new TextEncoder().encode(text);

export const reportStage = defineStage({
  name: 'report',
  // 4: rows and the full table carry the refit's angle to the desired model, in-plane accuracy and off-plane share, and say what they are.
  version: 4,
  description: 'Rows by method, direction, budget and k; the full and compact tables (Markdown, CSV, LaTeX); a labelled image grid',
  params: {
    grid_images: { type: 'integer', default: 8, min: 1, max: 64, description: 'Images in the grid, the first ones of the training set' },
  },
  inputs: {
    baseline: { kind: 'metrics', description: 'Evaluation of the fair model trained on the clean images (k = 0)' },
    desired: { kind: 'metrics', description: "The desired model's accuracy on the test set it was fit on (the bound)" },
    steps: { kind: 'metrics', many: true, description: 'Evaluations after perturbation, from a matrix over direction and k (and method, budget)' },
    perturbations: { kind: 'metrics', many: true, description: 'Perturbation statistics, from the same matrix: paired with the evaluations by equal coordinates' },
    original: { kind: 'table', description: 'The clean training images' },
    perturbed: { kind: 'table', description: 'The training images shown perturbed in the grid' },
  },
  outputs: {
    markdown: { kind: 'blob', description: 'The compact and the full table in Markdown, with their notes' },
    csv: { kind: 'blob', description: 'The full table as CSV (one decimal, blank where unknown)' },
    latex: { kind: 'blob', description: 'The full table as a booktabs tabular' },
    latex_compact: { kind: 'blob', description: 'The compact table (setting, direction, accuracy, gain, paper, PSNR) as a booktabs tabular' },
    rows: { kind: 'json', description: 'Machine-readable rows (method, direction, budget, k, accuracy, gain, perturbation statistics), baseline, bound, paper figures' },
    grid: { kind: 'blob', description: 'PNG: original, perturbed and signed difference of a few training images, labelled, with the colour scale' },
  },
  async run(inputs, params) {
    const data = collectReport(inputs);
    const grid = await renderImageGrid(tableToImageSet(inputs.original), tableToImageSet(inputs.perturbed), {
      images: params.grid_images,
      provenance: Object.fromEntries(inputs.perturbed.schema.metadata),
    });
    return {
      markdown: { extension: 'md', bytes: utf8(renderMarkdown(data)) },
      csv: { extension: 'csv', bytes: utf8(renderCsv(data)) },
      latex: { extension: 'tex', bytes: utf8(renderLatex(data)) },
      latex_compact: { extension: 'tex', bytes: utf8(renderCompactLatex(data)) },
      rows: data as unknown as JsonValue,
      grid: { extension: 'png', bytes: grid },
    };
  },
});
