import { describe, expect, it } from 'vitest';
import { decode } from 'fast-png';
import type { Blob, Metrics } from '../pipeline/stage.js';
import { IMAGE_BYTES, imageSetToTable, type ImageSet } from '../data/tables.js';
import { signedStep } from '../numerics/perturbation.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';
import { reportStage } from '../stages/report.js';
import { GRID_GAP, GRID_SCALE } from '../stages/report-grid.js';
import { collectReport, PAPER_TOWARD_PERCENT, renderCsv, type ReportInputs } from '../stages/report-tables.js';

const BASELINE = 0.7531;
const DESIRED = 0.9412;
const TOWARD = [0.8402, 0.8233, 0.8317];
const AWAY = [0.6011, 0.5709, 0.5498];

function perturbationMetrics(k: number, direction: string): Metrics {
  return {
    mean_abs_change: 0.61,
    fraction_changed: 0.6 + k / 100,
    mean_abs_change_from_original: 0.3 * k + (direction === 'away' ? 0.05 : 0),
    max_abs_change_from_original: k,
    fraction_changed_from_original: 0.55 + k / 50,
    psnr_db: 49.3 - 2.5 * k,
    fraction_returned: k === 1 ? 0 : 0.21 * k,
  };
}

/** Instance names with the matrix variables in both orders, as the engine may write them. */
function stepInputs(): ReportInputs {
  const steps: Record<string, Metrics> = {};
  const perturbations: Record<string, Metrics> = {};
  for (let k = 1; k <= 3; k++) {
    steps[k % 2 ? `evaluate@direction=toward,k=${k}` : `evaluate@k=${k},direction=toward`] = { accuracy: TOWARD[k - 1], train_accuracy: 0.99 };
    steps[`evaluate@direction=away,k=${k}`] = { accuracy: AWAY[k - 1], train_accuracy: 0.98 };
    perturbations[`perturb@direction=toward,k=${k}`] = perturbationMetrics(k, 'toward');
    perturbations[`perturb@k=${k},direction=away`] = perturbationMetrics(k, 'away');
  }
  delete perturbations['perturb@k=2,direction=away'].psnr_db;
  return {
    baseline: { accuracy: BASELINE, train_accuracy: 0.991, 'accuracy/cat': 0.5 },
    desired: { accuracy: DESIRED },
    steps,
    perturbations,
  };
}

/** Three toward steps along a fixed pseudo-gradient that is zero on every fifth value, so some pixels never move. */
function perturbThreeSteps(original: ImageSet): ImageSet {
  const gradient = new Float32Array(original.pixels.length).map((_, i) => (i % 5 === 0 ? 0 : Math.sin(i * 1.7)));
  let pixels = original.pixels;
  for (let step = 0; step < 3; step++) {
    pixels = signedStep(pixels, gradient, original.pixels, { direction: 'toward', step: 1, budget: 0 });
  }
  return { ...original, pixels };
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

function reversed(set: ImageSet): ImageSet {
  const order = Array.from({ length: set.count }, (_, position) => set.count - 1 - position);
  const pixels = new Uint8Array(set.pixels.length);
  order.forEach((from, to) => pixels.set(set.pixels.subarray(from * IMAGE_BYTES, (from + 1) * IMAGE_BYTES), to * IMAGE_BYTES));
  return { ...set, pixels, labels: Uint8Array.from(order, (i) => set.labels[i]), indices: Int32Array.from(order, (i) => set.indices[i]) };
}

const trainImages = loadMiniCifar().train;

/** The stage on the fixture's real training images; `shuffle` hands the perturbed set over in reverse order. */
async function runReport(gridImages = 8, amplify = 20, shuffle = false) {
  const original = trainImages;
  const perturbed = perturbThreeSteps(original);
  const inputs = stepInputs();
  const asItems = (record: Record<string, Metrics>) => Object.entries(record).map(([instance, value]) => ({ instance, coordinates: {}, value }));
  const outputs = await reportStage.run(
    { ...inputs, steps: asItems(inputs.steps), perturbations: asItems(inputs.perturbations), original: imageSetToTable(original), perturbed: imageSetToTable(shuffle ? reversed(perturbed) : perturbed) },
    { grid_images: gridImages, amplify },
    context,
  );
  return { outputs, original, perturbed };
}

/** Points with one decimal, '+' on gains, bare zero. */
const signed = (points: number) => (Number(points.toFixed(1)) > 0 ? '+' : '') + points.toFixed(1);

describe('report tables', () => {
  it('has one CSV row per k whose values are the inputs, in percent with one decimal', () => {
    const rows = parseCsv(renderCsv(collectReport(stepInputs())));
    expect(rows.map((row) => row.k)).toEqual(['0', '1', '2', '3']);
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

  it('shows the paper figures where the paper gives them and leaves the others blank', () => {
    const rows = parseCsv(renderCsv(collectReport(stepInputs())));
    for (const row of rows) {
      const paper = PAPER_TOWARD_PERCENT.get(Number(row.k));
      expect(row.paper_toward_accuracy_pct).toBe(paper === undefined ? '' : paper.toFixed(1));
      expect(row.paper_toward_gain_pts).toBe(paper === undefined ? '' : signed(paper - (PAPER_TOWARD_PERCENT.get(0) as number)));
    }
    expect(rows[3].paper_toward_gain_pts).toBe('+17.0');
  });

  it('leaves a step without an evaluation blank instead of inventing a value', () => {
    const inputs = stepInputs();
    const steps = { ...inputs.steps };
    delete steps['evaluate@direction=away,k=3'];
    const data = collectReport({ ...inputs, steps });
    const away3 = data.rows.find((row) => row.direction === 'away' && row.k === 3);
    expect(away3?.test_accuracy).toBeNull();
    expect(away3?.gain_points).toBeNull();
    expect(away3?.psnr_db).toBe(49.3 - 7.5);
    expect(parseCsv(renderCsv(data))[3].away_accuracy_pct).toBe('');
  });

  it('refuses instance names it cannot place, and two instances for one step', () => {
    const inputs = stepInputs();
    expect(() => collectReport({ ...inputs, steps: { 'evaluate@direction=sideways,k=1': { accuracy: 0.5 } } })).toThrow(/sideways.*toward, away/);
    expect(() => collectReport({ ...inputs, steps: { 'evaluate@direction=toward': { accuracy: 0.5 } } })).toThrow(/'direction' and 'k'/);
    expect(() => collectReport({ ...inputs, steps: { 'evaluate@direction=toward,k=1.5': { accuracy: 0.5 } } })).toThrow(/not a non-negative integer/);
    const twice = { 'evaluate@direction=toward,k=1,budget=2': { accuracy: 0.5 }, 'evaluate@direction=toward,k=1,budget=4': { accuracy: 0.6 } };
    expect(() => collectReport({ ...inputs, steps: twice })).toThrow(/two instances for direction=toward, k=1/);
    expect(() => collectReport({ ...inputs, desired: {} })).toThrow(/'desired' has no numeric 'accuracy'/);
  });
});

describe('report stage', () => {
  it('writes the same table in Markdown, CSV, LaTeX and JSON rows', async () => {
    const { outputs } = await runReport();
    expect([outputs.markdown, outputs.csv, outputs.latex, outputs.plot, outputs.grid].map((b) => b.extension)).toEqual(['md', 'csv', 'tex', 'svg', 'png']);

    const csvRows = parseCsv(text(outputs.csv));
    const markdownRows = text(outputs.markdown)
      .split('\n')
      .filter((line) => /^\| \d/.test(line))
      .map((line) => line.slice(2, -2).split(' | '));
    const latexRows = text(outputs.latex)
      .split('\n')
      .filter((line) => /^\d+ &/.test(line))
      .map((line) => line.replace(/ \\\\$/, '').replace(/\$([+-])\$/g, '$1').split(' & '));
    expect(markdownRows).toEqual(csvRows.map((row) => Object.values(row)));
    const markdownHeader = text(outputs.markdown).split('\n').find((line) => line.startsWith('| k |')) ?? '';
    expect(markdownHeader.split(/(?<!\\)\|/)).toHaveLength(Object.keys(csvRows[0]).length + 2);
    expect(latexRows).toEqual(markdownRows);
    expect(text(outputs.latex)).toMatch(/\\toprule[\s\S]*\\midrule[\s\S]*\\bottomrule\n\\end\{tabular\}/);

    const json = outputs.rows as { baseline: { test_accuracy: number }; desired: { test_accuracy: number }; rows: Record<string, unknown>[] };
    expect(json.baseline.test_accuracy).toBe(BASELINE);
    expect(json.desired.test_accuracy).toBe(DESIRED);
    expect(json.rows).toHaveLength(8);
    expect(json.rows[2]).toMatchObject({ direction: 'toward', k: 2, test_accuracy: TOWARD[1], fraction_returned: 0.42, max_abs_change_from_original: 2 });
    expect(json.rows[2].gain_points).toBeCloseTo((TOWARD[1] - BASELINE) * 100, 6);
    expect(json.rows[6]).toMatchObject({ direction: 'away', k: 2, psnr_db: null });
  });

  it('draws a well-formed SVG with both series, the references and the paper points', async () => {
    const { outputs } = await runReport();
    const svg = text(outputs.plot);
    assertWellFormedXml(svg);
    const heights = (direction: string) => {
      const group = svg.match(new RegExp(`<g class="series" data-direction="${direction}">([\\s\\S]*?)</g>`));
      const points = group?.[1].match(/<polyline points="([^"]+)"/)?.[1].split(' ') ?? [];
      return points.map((point) => Number(point.split(',')[1]));
    };
    const toward = heights('toward');
    const away = heights('away');
    expect(toward).toHaveLength(4);
    expect(away).toHaveLength(4);
    // SVG y grows downward: toward is above the baseline at every k > 0, away below.
    for (let k = 1; k <= 3; k++) {
      expect(toward[k]).toBeLessThan(toward[0]);
      expect(away[k]).toBeGreaterThan(away[0]);
    }
    expect(toward[0]).toBe(away[0]);
    expect(svg.match(/<g class="paper">[\s\S]*?<\/g>/)?.[0].match(/<polygon/g)).toHaveLength(PAPER_TOWARD_PERCENT.size);
    for (const label of ['toward', 'away', 'baseline', 'desired model', 'paper', 'test accuracy (%)', 'perturbation steps k']) {
      expect(svg).toContain(label);
    }
  });

  it('draws the image grid: originals, perturbed images, and mid-grey where nothing changed', async () => {
    const gridImages = 5;
    const amplify = 20;
    const { outputs, original, perturbed } = await runReport(gridImages, amplify);
    const png = decode(outputs.grid.bytes);
    const cell = 32 * GRID_SCALE;
    expect(png.width).toBe(gridImages * cell + (gridImages + 1) * GRID_GAP);
    expect(png.height).toBe(3 * cell + 4 * GRID_GAP);
    expect(png.channels).toBe(3);

    const pixelAt = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 3, (y * png.width + x) * 3 + 3));
    let unchanged = 0;
    let changed = 0;
    for (let image = 0; image < gridImages; image++) {
      for (const [y, x] of [[0, 0], [5, 7], [31, 31], [17, 2]]) {
        const source = image * IMAGE_BYTES + (y * 32 + x) * 3;
        const before = Array.from(original.pixels.subarray(source, source + 3));
        const after = Array.from(perturbed.pixels.subarray(source, source + 3));
        // The centre of the upscaled pixel in each of the three rows.
        const gridX = GRID_GAP + image * (cell + GRID_GAP) + x * GRID_SCALE + 1;
        const rowY = (row: number) => GRID_GAP + row * (cell + GRID_GAP) + y * GRID_SCALE + 2;
        expect(pixelAt(gridX, rowY(0))).toEqual(before);
        expect(pixelAt(gridX, rowY(1))).toEqual(after);
        const difference = pixelAt(gridX, rowY(2));
        before.forEach((value, c) => {
          const delta = after[c] - value;
          expect(difference[c]).toBe(Math.min(255, Math.max(0, 128 + amplify * delta)));
          if (delta === 0) unchanged++;
          else changed++;
        });
      }
    }
    expect(unchanged).toBeGreaterThan(0);
    expect(changed).toBeGreaterThan(0);
    expect(pixelAt(1, 1)).toEqual([255, 255, 255]);
  });

  it('pairs each original with the perturbed image of the same index, whatever their order', async () => {
    const inOrder = (await runReport()).outputs.grid.bytes;
    const shuffled = (await runReport(8, 20, true)).outputs.grid.bytes;
    expect(Buffer.from(shuffled).equals(Buffer.from(inOrder))).toBe(true);
  });

  it('gives the same bytes on a second run', async () => {
    const first = (await runReport()).outputs;
    const second = (await runReport()).outputs;
    for (const name of ['markdown', 'csv', 'latex', 'plot', 'grid'] as const) {
      expect(Buffer.from(second[name].bytes).equals(Buffer.from(first[name].bytes))).toBe(true);
    }
    expect(JSON.stringify(second.rows)).toBe(JSON.stringify(first.rows));
  });
});
