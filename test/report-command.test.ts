import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageSetToTable } from '../data/tables.js';
import { openCache } from '../pipeline/cache-handle.js';
import { loadPipeline } from '../pipeline/config.js';
import { runPipeline } from '../pipeline/engine.js';
import { defineStage, type AnyStage } from '../pipeline/stage.js';
import { Workspace } from '../pipeline/workspace.js';
import { reportText, writeReport } from '../commands/report.js';
import { reportStage } from '../stages/report.js';
import { loadMiniCifar } from './fixtures/cifar10-mini.js';

// Stand-ins for the study's stages: an evaluation whose accuracy follows from direction and k,
// with perturbation statistics, and a set of real training images.
const fakeEvaluate = defineStage({
  name: 'fake-evaluate',
  version: 1,
  description: 'accuracy = base + 0.04 k (toward) or - 0.04 k (away)',
  params: {
    base: { type: 'number', default: 0.75, description: 'accuracy at k = 0' },
    direction: { type: 'enum', values: ['toward', 'away'], default: 'toward', description: 'direction' },
    k: { type: 'integer', default: 0, description: 'step' },
  },
  inputs: {},
  outputs: { metrics: { kind: 'metrics', description: 'evaluation and perturbation statistics' } },
  async run(_inputs, params) {
    const sign = params.direction === 'toward' ? 1 : -1;
    return {
      metrics: { accuracy: params.base + sign * 0.04 * params.k, train_accuracy: 0.99, max_abs_change_from_original: params.k, psnr_db: 50 - params.k },
    };
  },
});
const fakeImages = defineStage({
  name: 'fake-images',
  version: 1,
  description: 'the fixture training images',
  params: {},
  inputs: {},
  outputs: { images: { kind: 'table', description: 'images' } },
  async run() {
    return { images: imageSetToTable(loadMiniCifar().train) };
  },
});
const registry: AnyStage[] = [fakeEvaluate, fakeImages, reportStage];

const CONFIG = `
stages:
  - name: images
    uses: fake-images
  - name: baseline
    uses: fake-evaluate
  - name: desired
    uses: fake-evaluate
    params:
      base: 0.93
  - name: evaluate
    uses: fake-evaluate
    matrix:
      direction: [toward, away]
      k: [1, 2, 3]
    params:
      direction: \${direction}
      k: \${k}
  - name: report
    uses: report
    params:
      grid_images: 4
    inputs:
      baseline: baseline.metrics
      desired: desired.metrics
      steps: evaluate@*.metrics
      perturbations: evaluate@*.metrics
      original: images.images
      perturbed: images.images
`;

let directory: string;
let config: string;
let cacheDir: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'report-command-'));
  config = join(directory, 'study.yaml');
  cacheDir = join(directory, 'cache');
  writeFileSync(config, CONFIG);
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('pipeline report', () => {
  it('says to run the pipeline first when the report is not computed', async () => {
    await expect(reportText({ config, format: 'md', cacheDir }, registry)).rejects.toThrow(/run `pipeline run .*study.yaml` first/);
  });

  it('prints the cached table, byte for byte the stage outputs, in each format', async () => {
    const cache = openCache(cacheDir);
    try {
      const summary = await runPipeline(cache, loadPipeline(config, registry));
      expect(summary.status).toBe('succeeded');
    } finally {
      cache.close();
    }

    const workspace = Workspace.open({ config, stages: registry, cacheDir });
    const stored = async (output: string) => new TextDecoder().decode((await workspace.load<'blob'>('report', output)).bytes);
    const expected = { md: await stored('markdown'), csv: await stored('csv'), tex: await stored('latex'), 'tex-compact': await stored('latex_compact') };
    const rows = await workspace.load<'json'>('report', 'rows');
    workspace.close();

    for (const format of ['md', 'csv', 'tex', 'tex-compact'] as const) {
      expect(await reportText({ config, format, cacheDir }, registry)).toBe(expected[format]);
    }
    const json = JSON.parse(await reportText({ config, format: 'json', cacheDir }, registry));
    expect(json).toEqual(rows);
    expect(json.baseline.test_accuracy).toBe(0.75);
    expect(json.desired.test_accuracy).toBe(0.93);
    const toward3 = json.rows.find((row: { direction: string; k: number }) => row.direction === 'toward' && row.k === 3);
    // The matrix gives direction and k; method and budget default to the paper's unbounded sign steps.
    expect(toward3).toMatchObject({ method: 'sign', budget: 0, test_accuracy: 0.75 + 0.04 * 3, gain_points: 12, max_abs_change_from_original: 3, psnr_db: 47 });
    expect(expected.csv.split('\n')[4]).toMatch(/^sign,0,3,87\.0,63\.0,\+12\.0,-12\.0,93\.0,92\.0,\+17\.0,/);
  });

  it('writes every table and figure into a folder, the tables byte for byte the printed ones', async () => {
    const out = join(directory, 'results');
    const written = await writeReport({ config, format: 'md', cacheDir, out }, registry);
    const names = readdirSync(out).sort();
    expect(written.map((path) => path.slice(out.length + 1)).sort()).toEqual(names);
    expect(names).toEqual(
      ['accuracy-k.pdf', 'accuracy-k.svg', 'grid.pdf', 'grid.png', 'report-compact.tex', 'report.csv', 'report.html', 'report.json', 'report.md', 'report.tex'].sort(),
    );
    for (const [file, format] of [['report.md', 'md'], ['report.csv', 'csv'], ['report.tex', 'tex'], ['report-compact.tex', 'tex-compact'], ['report.json', 'json']] as const) {
      expect(readFileSync(join(out, file), 'utf8'), file).toBe(await reportText({ config, format, cacheDir }, registry));
    }
    for (const pdf of ['accuracy-k.pdf', 'grid.pdf']) {
      const bytes = readFileSync(join(out, pdf));
      expect(bytes.subarray(0, 5).toString()).toBe('%PDF-');
      expect(bytes.toString('latin1').match(/\/Type \/Page\b(?!s)/g), pdf).toHaveLength(1);
    }
    // No budget rows in this study: no budget plot.
    expect(names.some((name) => name.startsWith('accuracy-budget'))).toBe(false);
  });

  it('writes one HTML file with every figure embedded and the run history', async () => {
    const out = join(directory, 'html', 'report.html');
    expect(await writeReport({ config, format: 'html', cacheDir, out }, registry)).toEqual([out]);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html.match(/<img src="data:image\/(png|svg\+xml);base64,/g)).toHaveLength(2);
    expect(html).not.toMatch(/(src|href)="(?!data:)/);
    expect(html).toContain('<td>fake-evaluate</td>');
    expect(html).toMatch(/<td class="number">1<\/td><td>[0-9-]+ [0-9:]+ UTC<\/td>/);
  });

  it('says what --out expects when it names a folder for the HTML file, or a file for the folder', async () => {
    await expect(writeReport({ config, format: 'html', cacheDir, out: directory }, registry)).rejects.toThrow(/is a folder; with --format html, give the file to write/);
    await expect(writeReport({ config, format: 'md', cacheDir, out: config }, registry)).rejects.toThrow(/is a file; give a folder/);
  });

  it('asks which report when the config has several, and refuses a config without one', async () => {
    const twoReports = join(directory, 'two.yaml');
    writeFileSync(twoReports, `${CONFIG}  - name: report_copy\n    uses: report\n${CONFIG.split('    uses: report\n')[1]}`);
    await expect(reportText({ config: twoReports, format: 'md', cacheDir }, registry)).rejects.toThrow(/several report instances \(report, report_copy\)/);
    expect(await reportText({ config: twoReports, format: 'md', cacheDir, instance: 'report' }, registry)).toContain('| sign | 0 | 3 | 87.0 | 63.0 |');

    const noReport = join(directory, 'none.yaml');
    writeFileSync(noReport, CONFIG.split('  - name: report\n')[0]);
    await expect(reportText({ config: noReport, format: 'md', cacheDir }, registry)).rejects.toThrow(/has no stage that uses 'report'/);
  });
});

