import { describe, expect, it } from 'vitest';
import { decode } from 'fast-png';
import type { Blob, Coordinate, ManyItem, Metrics } from '../pipeline/stage.js';
import { IMAGE_BYTES, imageSetToTable, type ImageSet } from '../data/tables.js';
import { signedStep } from '../numerics/perturbation.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';
import { reportStage } from '../stages/report.js';
import { collectReport, PAPER_TOWARD_PERCENT, type ReportData, type ReportInputs } from '../report/data.js';
import { renderCompactLatex, renderCsv } from '../report/tables.js';
import { accuracyByBudgetFigure, accuracyByStepsFigure, seriesStyle } from '../report/plots.js';
import { renderPdf, renderSvg, type Figure, type Shape } from '../report/figure.js';
import { divergingColor, GRID_ROWS, gridGeometry, GRID_SCALE } from '../report/grid.js';
import { reportFiles } from '../report/files.js';
import { AUDIT_INTERVAL, AUDIT_TEST, DETECTOR_METHOD, type AuditReport } from '../report/audit-tables.js';
import { renderPowerPlot, renderPublicPrivatePlot, renderRocPlot } from '../report/audit-plots.js';

const BASELINE = 0.7531;
const DESIRED = 0.9412;
const TOWARD = [0.8402, 0.8233, 0.8317];
const AWAY = [0.6011, 0.5709, 0.5498];

function perturbationMetrics(k: number, direction: string): Metrics {
  return {
    direction,
    mean_abs_change: 0.61,
    fraction_changed: 0.6 + k / 100,
    mean_abs_change_from_original: 0.3 * k + (direction === 'away' ? 0.05 : 0),
    max_abs_change_from_original: k,
    fraction_changed_from_original: 0.55 + k / 50,
    psnr_db: 49.3 - 2.5 * k,
    fraction_returned: k === 1 ? 0 : 0.21 * k,
  };
}

const item = (instance: string, coordinates: Record<string, Coordinate>, value: Metrics): ManyItem<Metrics> => ({ instance, coordinates, value });

/**
 * Evaluations and perturbations of a direction x k matrix. Instance names carry no coordinates
 * and the two lists come in different orders: rows must pair by the coordinates alone.
 */
function stepInputs(): ReportInputs & { steps: ManyItem<Metrics>[]; perturbations: ManyItem<Metrics>[] } {
  const steps: ManyItem<Metrics>[] = [];
  const perturbations: ManyItem<Metrics>[] = [];
  for (let k = 1; k <= 3; k++) {
    steps.push(item(`evaluation-${k}-a`, { direction: 'toward', k }, { accuracy: TOWARD[k - 1], train_accuracy: 0.99 }));
    steps.push(item(`evaluation-${k}-b`, { k, direction: 'away' }, { accuracy: AWAY[k - 1], train_accuracy: 0.98 }));
    perturbations.unshift(item(`statistics-${k}-a`, { direction: 'toward', k }, perturbationMetrics(k, 'toward')));
    perturbations.unshift(item(`statistics-${k}-b`, { direction: 'away', k }, perturbationMetrics(k, 'away')));
  }
  delete perturbations.find((p) => p.coordinates.direction === 'away' && p.coordinates.k === 2)!.value.psnr_db;
  return { baseline: { accuracy: BASELINE, train_accuracy: 0.991, 'accuracy/cat': 0.5 }, desired: { accuracy: DESIRED }, steps, perturbations };
}

/** Two methods under budgets 1..3, three steps each; the method and budget only in the perturbation statistics. */
function budgetInputs(): ReportInputs {
  const steps: ManyItem<Metrics>[] = [];
  const perturbations: ManyItem<Metrics>[] = [];
  for (const method of ['sign', 'difference']) {
    for (const budget of [1, 2, 3]) {
      for (const k of [1, 2, 3]) {
        const coordinates = { setting: `${method}-${budget}`, direction: 'toward', k };
        const accuracy = 0.75 + 0.02 * budget + 0.001 * k + (method === 'difference' ? 0.05 : 0);
        const refit = { angle_to_desired_deg: 60 - budget, in_plane_accuracy: 0.9 + 0.01 * budget, off_plane_share: 0.5 + 0.01 * k };
        steps.push(item(`e-${method}-${budget}-${k}`, coordinates, { accuracy, train_accuracy: 0.99, ...(method === 'sign' ? refit : {}) }));
        perturbations.push(item(`p-${method}-${budget}-${k}`, coordinates, { ...perturbationMetrics(k, 'toward'), method, budget, desired_loss: 0.5 / k, desired_accuracy: 0.9 }));
      }
    }
  }
  return { baseline: { accuracy: 0.75 }, desired: { accuracy: 1 }, steps, perturbations };
}

function parseCsv(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trimEnd().split('\n');
  const keys = header.split(',');
  return lines.map((line) => {
    const fields = line.split(',');
    expect(fields).toHaveLength(keys.length);
    return Object.fromEntries(keys.map((key, i) => [key, fields[i]]));
  });
}

/** Throws unless `text` is one well-formed XML element (tags balanced, attributes quoted, entities valid). */
function assertWellFormedXml(text: string): void {
  const body = text.replace(/^<\?xml[^?]*\?>\s*/, '');
  const token = /<\/([\w:.-]+)\s*>|<([\w:.-]+)((?:\s+[\w:.-]+="(?:[^"<&]|&(?:amp|lt|gt|quot|#\d+);)*")*)\s*(\/?)>|((?:[^<&]|&(?:amp|lt|gt|quot|#\d+);)+)/y;
  const open: string[] = [];
  let roots = 0;
  while (token.lastIndex < body.length) {
    const at = token.lastIndex;
    const match = token.exec(body);
    if (!match) throw new Error(`not well-formed at offset ${at}: ${body.slice(at, at + 40)}`);
    const [, closing, opening, attributes, selfClosing, textRun] = match;
    if (closing) {
      if (open.pop() !== closing) throw new Error(`</${closing}> does not close the open element`);
    } else if (opening) {
      const names = [...attributes.matchAll(/([\w:.-]+)="/g)].map((m) => m[1]);
      if (new Set(names).size !== names.length) throw new Error(`<${opening}> repeats an attribute`);
      if (open.length === 0) roots++;
      if (!selfClosing) open.push(opening);
    } else if (open.length === 0 && textRun.trim() !== '') {
      throw new Error('text outside the root element');
    }
  }
  if (open.length !== 0 || roots !== 1) throw new Error(`unclosed ${open.join(', ')} or ${roots} root elements`);
}

const text = (blob: Blob) => new TextDecoder().decode(blob.bytes);
const context = { progress() {}, log() {}, signal: new AbortController().signal, threads: 1 };

/** Three toward steps along a fixed pseudo-gradient that is zero on every fifth value, so some pixels never move. */
function perturbThreeSteps(original: ImageSet): ImageSet {
  const gradient = new Float32Array(original.pixels.length).map((_, i) => (i % 5 === 0 ? 0 : Math.sin(i * 1.7)));
  let pixels = original.pixels;
  for (let step = 0; step < 3; step++) {
    pixels = signedStep(pixels, gradient, original.pixels, { direction: 'toward', step: 1, budget: 0 });
  }
  return { ...original, pixels };
}

function reversed(set: ImageSet): ImageSet {
  const order = Array.from({ length: set.count }, (_, position) => set.count - 1 - position);
  const pixels = new Uint8Array(set.pixels.length);
  order.forEach((from, to) => pixels.set(set.pixels.subarray(from * IMAGE_BYTES, (from + 1) * IMAGE_BYTES), to * IMAGE_BYTES));
  return { ...set, pixels, labels: Uint8Array.from(order, (i) => set.labels[i]), indices: Int32Array.from(order, (i) => set.indices[i]) };
}

const trainImages = loadMiniCifar().train;
const PROVENANCE = { method: 'sign', direction: 'toward', step: '1', budget: '0' };

/** The stage on the fixture's real training images; `shuffle` hands the perturbed set over in reverse order. */
async function runReport(gridImages = 8, shuffle = false) {
  const original = trainImages;
  const perturbed = perturbThreeSteps(original);
  const outputs = await reportStage.run(
    { ...stepInputs(), original: imageSetToTable(original), perturbed: imageSetToTable({ ...(shuffle ? reversed(perturbed) : perturbed), description: PROVENANCE }) },
    { grid_images: gridImages },
    context,
  );
  return { outputs, original, perturbed };
}

/** Points with one decimal, '+' on gains, bare zero. */
const signed = (points: number) => (Number(points.toFixed(1)) > 0 ? '+' : '') + points.toFixed(1);

const markers = (figure: Figure) => figure.shapes.filter((shape): shape is Extract<Shape, { kind: 'marker' }> => shape.kind === 'marker');
const texts = (figure: Figure) => figure.shapes.filter((shape): shape is Extract<Shape, { kind: 'text' }> => shape.kind === 'text');

describe('report rows', () => {
  it('pairs each evaluation with the perturbation of equal coordinates, whatever the names and order', () => {
    const data = collectReport(stepInputs());
    expect(data.rows.map((row) => [row.direction, row.k])).toEqual([
      ['toward', 1], ['toward', 2], ['toward', 3],
      ['away', 1], ['away', 2], ['away', 3],
    ]);
    for (const row of data.rows) {
      const k = row.k!;
      expect(row).toMatchObject({ method: 'sign', budget: 0, max_abs_change_from_original: k });
      expect(row.test_accuracy).toBe((row.direction === 'toward' ? TOWARD : AWAY)[k - 1]);
      expect(row.mean_abs_change_from_original).toBeCloseTo(0.3 * k + (row.direction === 'away' ? 0.05 : 0), 12);
    }
    expect(data.rows[4].psnr_db).toBeNull();
  });

  it('takes method, direction and budget from the perturbation statistics when the matrix does not name them', () => {
    const data = collectReport(budgetInputs());
    expect(data.rows).toHaveLength(18);
    const row = data.rows.find((r) => r.method === 'difference' && r.budget === 3 && r.k === 2)!;
    expect(row).toMatchObject({ direction: 'toward', test_accuracy: 0.75 + 0.06 + 0.002 + 0.05, desired_loss: 0.25, desired_accuracy: 0.9 });
    // Sorted by method in input order, then budget, then k.
    expect(data.rows.slice(0, 4).map((r) => [r.method, r.budget, r.k])).toEqual([['sign', 1, 1], ['sign', 1, 2], ['sign', 1, 3], ['sign', 2, 1]]);
    expect(data.rows[9].method).toBe('difference');
  });

  it("names a perturbation's variant beside its method, so that two variants of one method are two rows", () => {
    const inputs = budgetInputs();
    const coordinates = { setting: 'weighted-3', direction: 'toward', k: 1 };
    const data = collectReport({
      ...inputs,
      steps: [...inputs.steps, item('e-weighted', coordinates, { accuracy: 0.88, train_accuracy: 1 })],
      perturbations: [...inputs.perturbations, item('p-weighted', coordinates, { ...perturbationMetrics(1, 'toward'), method: 'difference', variant: 'fair weight 0.25', budget: 3 })],
    });
    expect(data.rows.filter((row) => row.budget === 3 && row.k === 1).map((row) => row.method)).toEqual(['sign', 'difference', 'difference (fair weight 0.25)']);
    expect(data.rows.find((row) => row.method === 'difference (fair weight 0.25)')!.test_accuracy).toBe(0.88);
  });

  it("carries what the evaluation says of the refit's weights into the rows and the full table, blank where it says nothing", () => {
    const data = collectReport(budgetInputs());
    const sign = data.rows.find((r) => r.method === 'sign' && r.budget === 2 && r.k === 3)!;
    expect(sign).toMatchObject({ angle_to_desired_deg: 58, in_plane_accuracy: 0.92, off_plane_share: 0.53 });
    const difference = data.rows.find((r) => r.method === 'difference' && r.budget === 2 && r.k === 3)!;
    expect(difference).toMatchObject({ angle_to_desired_deg: null, in_plane_accuracy: null, off_plane_share: null });
    const rows = parseCsv(renderCsv(data));
    const signRow = rows.find((row) => row.method === 'sign' && row.budget === '2' && row.k === '3')!;
    expect([signRow.toward_angle_to_desired_deg, signRow.toward_in_plane_accuracy_pct, signRow.toward_off_plane_share]).toEqual(['58.0', '92.0', '0.53']);
    const differenceRow = rows.find((row) => row.method === 'difference' && row.budget === '2' && row.k === '3')!;
    expect(differenceRow.toward_in_plane_accuracy_pct).toBe('');
  });

  it('leaves a step without an evaluation blank instead of inventing a value', () => {
    const inputs = stepInputs();
    const steps = inputs.steps.filter((step) => !(step.coordinates.direction === 'away' && step.coordinates.k === 3));
    const data = collectReport({ ...inputs, steps });
    const away3 = data.rows.find((row) => row.direction === 'away' && row.k === 3);
    expect(away3?.test_accuracy).toBeNull();
    expect(away3?.gain_points).toBeNull();
    expect(away3?.psnr_db).toBe(49.3 - 7.5);
    expect(parseCsv(renderCsv(data))[3].away_accuracy_pct).toBe('');
  });

  it('refuses inputs it cannot place', () => {
    const inputs = stepInputs();
    const twice = [item('a', { direction: 'toward', k: 1 }, { accuracy: 0.5 }), item('b', { k: 1, direction: 'toward' }, { accuracy: 0.6 })];
    expect(() => collectReport({ ...inputs, steps: twice })).toThrow(/two instances with the same matrix coordinates.*'a' and 'b'/);
    expect(() => collectReport({ ...inputs, steps: [item('x', { k: 9 }, { accuracy: 0.5 })], perturbations: [] })).toThrow(/'x': no direction/);
    expect(() => collectReport({ ...inputs, steps: [item('x', { direction: 'toward', k: 1.5 }, { accuracy: 0.5 })] })).toThrow(/k '1.5' is not a non-negative integer/);
    const sameSetting = [item('a', { direction: 'toward', k: 1, seed: 1 }, { accuracy: 0.5 }), item('b', { direction: 'toward', k: 1, seed: 2 }, { accuracy: 0.6 })];
    expect(() => collectReport({ ...inputs, steps: sameSetting, perturbations: [] })).toThrow(/'a' and 'b' are both method=sign, direction=toward, budget=0, k=1/);
    expect(() => collectReport({ ...inputs, desired: {} })).toThrow(/'desired' has no numeric 'accuracy'/);
  });
});

describe('report tables', () => {
  it('has a baseline row, then one CSV row per method, budget and k, the directions side by side', () => {
    const rows = parseCsv(renderCsv(collectReport(stepInputs())));
    expect(rows.map((row) => [row.method, row.budget, row.k])).toEqual([['none', '', '0'], ['sign', '0', '1'], ['sign', '0', '2'], ['sign', '0', '3']]);
    expect(rows[0].toward_accuracy_pct).toBe('75.3');
    expect(rows[0].away_accuracy_pct).toBe('75.3');
    for (let k = 1; k <= 3; k++) {
      const row = rows[k];
      expect(row.toward_accuracy_pct).toBe((TOWARD[k - 1] * 100).toFixed(1));
      expect(row.away_accuracy_pct).toBe((AWAY[k - 1] * 100).toFixed(1));
      expect(row.toward_gain_pts).toBe(signed((TOWARD[k - 1] - BASELINE) * 100));
      expect(row.away_gain_pts).toBe(signed((AWAY[k - 1] - BASELINE) * 100));
      expect(row.desired_accuracy_pct).toBe('94.1');
      expect(row.toward_max_abs_change).toBe(String(k));
      expect(row.toward_changed_pct).toBe(((0.55 + k / 50) * 100).toFixed(1));
      expect(row.toward_psnr_db).toBe((49.3 - 2.5 * k).toFixed(1));
      expect(row.away_mean_abs_change).toBe((0.3 * k + 0.05).toFixed(2));
    }
    expect(rows[2].away_psnr_db).toBe('');
    expect(rows[1].toward_gain_pts).toBe('+8.7');
    expect(rows[3].away_gain_pts).toBe('-20.3');
  });

  it("shows the paper's figures beside its k, and beside budgets of as many levels", () => {
    const rows = parseCsv(renderCsv(collectReport(stepInputs())));
    for (const row of rows) {
      const paper = PAPER_TOWARD_PERCENT.get(Number(row.k));
      expect(row.paper_toward_accuracy_pct).toBe(paper === undefined ? '' : paper.toFixed(1));
      expect(row.paper_toward_gain_pts).toBe(paper === undefined ? '' : signed(paper - (PAPER_TOWARD_PERCENT.get(0) as number)));
    }
    expect(rows[3].paper_toward_gain_pts).toBe('+17.0');

    const budgetRows = parseCsv(renderCsv(collectReport(budgetInputs()))).slice(1);
    for (const row of budgetRows) expect(row.paper_toward_accuracy_pct).toBe({ '1': '86.0', '2': '', '3': '92.0' }[row.budget]);
  });

  it('offers a compact LaTeX table of at most six columns, one line per measured row and the baseline', () => {
    for (const data of [collectReport(stepInputs()), collectReport(budgetInputs())]) {
      const latex = renderCompactLatex(data);
      const columns = latex.match(/\\begin\{tabular\}\{([lr]+)\}/)![1];
      expect(columns.length).toBeLessThanOrEqual(6);
      const lines = latex.split('\n').filter((line) => line.endsWith('\\\\'));
      for (const line of lines) expect(line.split(' & ')).toHaveLength(columns.length);
      expect(lines).toHaveLength(1 + 1 + data.rows.length);
    }
    const budgetLatex = renderCompactLatex(collectReport(budgetInputs()));
    expect(budgetLatex).toContain('method, budget, k & direction');
    expect(budgetLatex).toMatch(/\ndifference, 3, 3 & toward & 86\.3 & \$\+\$11\.3 & 92\.0 & 41\.8 \\\\/);
  });
});

describe('report figures', () => {
  const data = collectReport(stepInputs());
  const steps = accuracyByStepsFigure(data);

  it('draws toward above the baseline and away below it, from one baseline point at k = 0', () => {
    const baselineY = markers(steps).find((m) => m.fill === '#ffffff' && m.shape === 'circle')!.y;
    const axisTitleY = texts(steps).find((t) => t.text === 'perturbation steps k')!.y;
    const of = (index: number) => markers(steps).filter((m) => m.color === seriesStyle(index).color && m.fill === seriesStyle(index).color && m.y < axisTitleY);
    const [toward, away] = [of(0), of(1)];
    expect(toward).toHaveLength(3);
    expect(away).toHaveLength(3);
    for (const m of toward) expect(m.y).toBeLessThan(baselineY);
    for (const m of away) expect(m.y).toBeGreaterThan(baselineY);
  });

  it('keeps markers apart: no two points of the plot share a place, at k = 0 or elsewhere', () => {
    const plotted = markers(steps).filter((m) => m.y < texts(steps).find((t) => t.text === 'perturbation steps k')!.y);
    for (let i = 0; i < plotted.length; i++) {
      for (let j = i + 1; j < plotted.length; j++) {
        expect(Math.hypot(plotted[i].x - plotted[j].x, plotted[i].y - plotted[j].y), `markers ${i} and ${j}`).toBeGreaterThanOrEqual(4);
      }
    }
  });

  it('is readable at one column: text of 7 pt or more at 3.3 in wide, the legend under the plot', () => {
    const columnWidthPoints = 3.3 * 72;
    for (const figure of [steps, accuracyByBudgetFigure(collectReport(budgetInputs()))]) {
      const smallest = Math.min(...texts(figure).map((t) => t.size));
      expect(smallest * (columnWidthPoints / figure.width)).toBeGreaterThanOrEqual(7);
      const axisTitle = texts(figure).find((t) => t.text.startsWith('budget') || t.text === 'perturbation steps k')!;
      for (const label of ['baseline (clean training)', 'desired model (bound)', 'paper, full CIFAR-10']) {
        expect(texts(figure).find((t) => t.text === label)!.y, label).toBeGreaterThan(axisTitle.y);
      }
    }
  });

  it("labels the paper's points as full-data figures and draws them where the paper gives them", () => {
    const stars = markers(steps).filter((m) => m.shape === 'star');
    expect(stars).toHaveLength(1 + PAPER_TOWARD_PERCENT.size);
    expect(texts(steps).map((t) => t.text)).toContain('paper, full CIFAR-10');
  });

  it('plots accuracy against budget, one line per method and direction, only when the data has budget rows', async () => {
    const files = (await reportFiles(data, await (await runReport(2)).outputs.grid.bytes)).map((file) => file.name);
    expect(files).not.toContain('accuracy-budget.svg');
    const budgetData = collectReport(budgetInputs());
    const figure = accuracyByBudgetFigure(budgetData);
    const lines = figure.shapes.filter((s) => s.kind === 'line' && s.width === 1.4 && s.points.length === 3);
    expect(lines).toHaveLength(2);
    expect(texts(figure).filter((t) => ['1', '2', '3'].includes(t.text))).toHaveLength(3);
    expect(texts(figure).map((t) => t.text)).toEqual(expect.arrayContaining(['sign', 'difference']));
    // At each budget its last step (k = 3); the paper's k = 1 and k = 3 figures at budgets 1 and 3.
    const paperStars = markers(figure).filter((m) => m.shape === 'star');
    expect(paperStars).toHaveLength(3);
  });

  it('takes, at each budget, the last step of its series', () => {
    const inputs = budgetInputs();
    const steps = inputs.steps.map((step) => ({ ...step, value: { accuracy: step.coordinates.k === 3 ? 0.6 : 0.9 } }));
    const figure = accuracyByBudgetFigure(collectReport({ ...inputs, steps }));
    const baselineY = (figure.shapes.find((s) => s.kind === 'line' && s.dash?.[0] === 5) as Extract<Shape, { kind: 'line' }>).points[0][1];
    const lines = figure.shapes.filter((s): s is Extract<Shape, { kind: 'line' }> => s.kind === 'line' && s.width === 1.4 && s.points.length === 3);
    for (const line of lines) for (const [, y] of line.points) expect(y).toBeGreaterThan(baselineY);
  });

  it('gives a new method its own series and style, with no change to the report', () => {
    const inputs = stepInputs();
    const rotation = [1, 2, 3].map((k) => item(`r${k}`, { direction: 'toward', k, method: 'rotation' }, { accuracy: 0.77 }));
    const figure = accuracyByStepsFigure(collectReport({ ...inputs, steps: [...inputs.steps, ...rotation] }));
    expect(texts(figure).map((t) => t.text)).toEqual(expect.arrayContaining(['sign, toward', 'sign, away', 'rotation, toward']));
    expect(new Set(markers(figure).filter((m) => m.fill !== '#ffffff').map((m) => m.color)).size).toBe(3);
  });

  it('renders SVG (well-formed) and PDF (one page per figure), the same bytes each time', async () => {
    const svg = renderSvg(steps);
    assertWellFormedXml(svg);
    expect(svg).toContain('perturbation steps k');
    const budget = accuracyByBudgetFigure(collectReport(budgetInputs()));
    const pdf = Buffer.from(await renderPdf([steps, budget], 'two figures'));
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const text = pdf.toString('latin1');
    expect(text.match(/\/Type \/Page\b(?!s)/g)).toHaveLength(2);
    expect(text).toMatch(/\/Count 2\b/);
    expect(text).toContain(`/MediaBox [0 0 ${steps.width} ${steps.height}]`);
    expect(Buffer.from(await renderPdf([steps, budget], 'two figures')).equals(pdf)).toBe(true);
  });
});

describe('report stage', () => {
  it('writes the full table in Markdown, CSV and LaTeX alike, the compact one, and JSON rows', async () => {
    const { outputs } = await runReport();
    expect([outputs.markdown, outputs.csv, outputs.latex, outputs.latex_compact, outputs.grid].map((b) => b.extension)).toEqual(['md', 'csv', 'tex', 'tex', 'png']);

    const csvRows = parseCsv(text(outputs.csv));
    const markdownRows = text(outputs.markdown)
      .split('\n')
      .filter((line) => /^\| (none|sign) \|/.test(line))
      .map((line) => line.slice(2, -2).split(' | '));
    const latexRows = text(outputs.latex)
      .split('\n')
      .filter((line) => /^(none|sign) &/.test(line))
      .map((line) => line.replace(/ \\\\$/, '').replace(/\$([+-])\$/g, '$1').split(' & '));
    expect(markdownRows).toEqual(csvRows.map((row) => Object.values(row)));
    expect(latexRows).toEqual(markdownRows);
    expect(text(outputs.latex)).toMatch(/\\toprule[\s\S]*\\midrule[\s\S]*\\bottomrule\n\\end\{tabular\}/);
    expect(text(outputs.markdown)).toContain('| clean (k = 0) |  | 75.3 | 0.0 | 75.0 |  |');

    const json = outputs.rows as unknown as ReportData;
    expect(json.baseline.test_accuracy).toBe(BASELINE);
    expect(json.desired.test_accuracy).toBe(DESIRED);
    expect(json.rows).toHaveLength(6);
    expect(json.rows[1]).toMatchObject({ method: 'sign', direction: 'toward', budget: 0, k: 2, test_accuracy: TOWARD[1], fraction_returned: 0.42, max_abs_change_from_original: 2 });
    expect(json.rows[1].gain_points).toBeCloseTo((TOWARD[1] - BASELINE) * 100, 6);
    expect(json.rows[4]).toMatchObject({ direction: 'away', k: 2, psnr_db: null });
  });

  it('draws the image grid: labelled rows and columns, originals, perturbed images, the signed difference on its scale', async () => {
    const gridImages = 5;
    const { outputs, original, perturbed } = await runReport(gridImages);
    const png = decode(outputs.grid.bytes);
    expect(png.channels).toBe(3);
    // The colour scale: the largest mean change of a pixel over the shown images, in whole levels.
    let largest = 0;
    for (let pixel = 0; pixel < gridImages * 1024; pixel++) {
      const change = [0, 1, 2].reduce((sum, c) => sum + perturbed.pixels[pixel * 3 + c] - original.pixels[pixel * 3 + c], 0) / 3;
      largest = Math.max(largest, Math.abs(change));
    }
    const scale = Math.ceil(largest);
    expect(scale).toBeGreaterThanOrEqual(1);
    expect(scale).toBeLessThanOrEqual(3);
    const geometry = gridGeometry(gridImages, scale, PROVENANCE);
    expect([png.width, png.height]).toEqual([geometry.width, geometry.height]);
    const pixelAt = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 3, (y * png.width + x) * 3 + 3));
    const inkIn = (left: number, top: number, width: number, height: number) => {
      let ink = 0;
      for (let y = top; y < top + height; y++) for (let x = left; x < left + width; x++) if (pixelAt(x, y).every((v) => v < 100)) ink++;
      return ink;
    };
    // A column title over each image, a row title before each row, and text under the grid.
    for (let column = 0; column < gridImages; column++) expect(inkIn(geometry.cellLeft(column), geometry.columnLabelTop, geometry.cell, 20), `column ${column}`).toBeGreaterThan(20);
    GRID_ROWS.forEach((_, row) => expect(inkIn(0, geometry.rowTop(row), geometry.cellLeft(0), geometry.cell), GRID_ROWS[row]).toBeGreaterThan(50));
    expect(inkIn(0, geometry.footerTop, png.width, png.height - geometry.footerTop)).toBeGreaterThan(200);

    let raised = 0;
    let lowered = 0;
    let unchanged = 0;
    for (let image = 0; image < gridImages; image++) {
      for (const [y, x] of [[0, 0], [5, 7], [31, 31], [17, 2], [9, 20], [22, 13]]) {
        const source = image * IMAGE_BYTES + (y * 32 + x) * 3;
        const before = Array.from(original.pixels.subarray(source, source + 3));
        const after = Array.from(perturbed.pixels.subarray(source, source + 3));
        // The centre of the upscaled pixel in each of the three rows.
        const gridX = geometry.cellLeft(image) + x * GRID_SCALE + 1;
        const rowY = (row: number) => geometry.rowTop(row) + y * GRID_SCALE + 2;
        expect(pixelAt(gridX, rowY(0))).toEqual(before);
        expect(pixelAt(gridX, rowY(1))).toEqual(after);
        const mean = (after[0] + after[1] + after[2] - before[0] - before[1] - before[2]) / 3;
        const [r, , b] = pixelAt(gridX, rowY(2));
        expect(pixelAt(gridX, rowY(2))).toEqual(divergingColor(mean / scale));
        if (mean > 0) expect(r, 'red where raised').toBeGreaterThan(b);
        if (mean < 0) expect(b, 'blue where lowered').toBeGreaterThan(r);
        if (mean === 0) expect([r, b]).toEqual([247, 247]);
        if (mean > 0) raised++;
        else if (mean < 0) lowered++;
        else unchanged++;
      }
    }
    expect(raised).toBeGreaterThan(0);
    expect(lowered).toBeGreaterThan(0);
    expect(unchanged + raised + lowered).toBe(gridImages * 6);
  });

  it('pairs each original with the perturbed image of the same index, whatever their order', async () => {
    const inOrder = (await runReport()).outputs.grid.bytes;
    const shuffled = (await runReport(8, true)).outputs.grid.bytes;
    expect(Buffer.from(shuffled).equals(Buffer.from(inOrder))).toBe(true);
  });

  it('gives the same bytes on a second run', async () => {
    const first = (await runReport()).outputs;
    const second = (await runReport()).outputs;
    for (const name of ['markdown', 'csv', 'latex', 'latex_compact', 'grid'] as const) {
      expect(Buffer.from(second[name].bytes).equals(Buffer.from(first[name].bytes))).toBe(true);
    }
    expect(JSON.stringify(second.rows)).toBe(JSON.stringify(first.rows));
  });
});

describe('audit plots', () => {
  const auditRow = (model: string, direction: 'toward' | 'away' | null, k: number, publicCorrect: number, privateCorrect: number) => ({
    model,
    direction,
    k,
    public_correct: publicCorrect,
    public_count: 100,
    private_correct: privateCorrect,
    private_count: 100,
    public_accuracy: publicCorrect / 100,
    private_accuracy: privateCorrect / 100,
    gap_points: publicCorrect - privateCorrect,
    gap_interval_points: [publicCorrect - privateCorrect - 5, publicCorrect - privateCorrect + 5] as [number, number],
    p_value: 0.5,
    flagged: false,
  });
  const report: AuditReport = {
    test: AUDIT_TEST,
    interval: AUDIT_INTERVAL,
    alpha: 0.05,
    confidence: 0.95,
    rows: [auditRow('fair', null, 0, 75, 74), auditRow('toward k=1', 'toward', 1, 80, 74), auditRow('toward k=2', 'toward', 2, 84, 73), auditRow('away k=1', 'away', 1, 70, 70), auditRow('away k=2', 'away', 2, 66, 66)],
    false_flags: { model: 'fair', splits: 100, flagged: 4, rate: 0.04, rate_interval: [0.01, 0.1], exact_rate: 0.042, public_fraction: 0.5 },
    power: {
      target_power: 0.8,
      public_count: 100,
      honest_accuracy: 0.745,
      max_private: 10000,
      rows: [
        { inflation_points: 5, private_count: 900, power: 0.81 },
        { inflation_points: 30, private_count: null, power: null },
      ],
    },
    detector: {
      method: DETECTOR_METHOD,
      detections: [2, 1].map((budget) => ({ budget, auc: 0.5 + budget / 10, held_out_auc: null, training_pairs: 10, held_out_pairs: 0, evaluated_pairs: 10, roc: [[0, 0], [0.2, 0.7], [1, 1]] as [number, number][] })),
    },
  };
  const count = (svg: string, pattern: RegExp) => svg.match(pattern)?.length ?? 0;

  it('draws public and private accuracy of each direction from the fair model: a marker per model and part, and one in each legend entry', () => {
    const svg = renderPublicPrivatePlot(report);
    assertWellFormedXml(svg);
    // toward: circles, away: squares; 3 models (fair, k = 1, 2) x 2 parts, plus 2 legend samples.
    expect(count(svg, /<circle /g)).toBe(8);
    expect(count(svg, /<polygon /g)).toBe(8);
    for (const label of ['toward, public part', 'toward, private part', 'away, public part', 'away, private part']) expect(svg).toContain(`>${label}</text>`);
  });

  it('gives each budget its ROC curve with its AUC, in budget order, and lists the inflations out of reach', () => {
    const roc = renderRocPlot(report);
    assertWellFormedXml(roc);
    expect(roc.indexOf('budget 1: AUC 0.600')).toBeGreaterThan(0);
    expect(roc.indexOf('budget 2: AUC 0.700')).toBeGreaterThan(roc.indexOf('budget 1: AUC 0.600'));
    const power = renderPowerPlot(report);
    assertWellFormedXml(power);
    expect(power).toContain('>out of reach: 30 pts</text>');
    expect(power).toContain('>10,000</text>');
  });
});
