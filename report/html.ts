// The single-file HTML report: the tables, the figures, the image grid and every file of
// `report --out` (as downloads), the run's params, the stages' timings and the run history,
// all embedded as data: URIs, so the file reads offline and travels alone.

import { renderSvg } from './figure.js';
import { reportFigures, type ReportFile } from './files.js';
import { compactTable, fullTable, isTextColumn, reportNotes, type Table } from './tables.js';
import type { ReportData } from './data.js';

export interface InstanceRecord {
  readonly instance: string;
  readonly stage: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** How long the run that computed its current result took; null when unknown. */
  readonly seconds: number | null;
}

export interface RunRecordView {
  readonly id: number;
  readonly config: string;
  readonly command: string;
  readonly status: string;
  /** Milliseconds since the epoch. */
  readonly startedAtMs: number;
  readonly finishedAtMs: number | null;
  readonly executed: number;
  readonly cached: number;
  readonly failed: number;
}

export interface HtmlReportInput {
  readonly config: string;
  readonly reportInstance: string;
  readonly overrides: readonly string[];
  readonly data: ReportData;
  readonly grid: Uint8Array;
  /** Every file of `report --out`, offered as downloads. */
  readonly files: readonly ReportFile[];
  readonly instances: readonly InstanceRecord[];
  readonly runs: readonly RunRecordView[];
}

const escape = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

const MEDIA_TYPES: Record<string, string> = {
  md: 'text/markdown',
  csv: 'text/csv',
  tex: 'application/x-tex',
  json: 'application/json',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  png: 'image/png',
};
const mediaType = (name: string) => MEDIA_TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
const dataUri = (type: string, bytes: Uint8Array) => `data:${type};base64,${base64(bytes)}`;

function htmlTable(table: Table, className: string): string {
  const numeric = (index: number) => !isTextColumn(table.columns[index]);
  const cell = (tag: 'th' | 'td', text: string, index: number) => `<${tag}${numeric(index) ? ' class="number"' : ''}>${escape(text)}</${tag}>`;
  return [
    `<table class="${className}">`,
    `<thead><tr>${table.columns.map((column, index) => cell('th', column.title, index)).join('')}</tr></thead>`,
    '<tbody>',
    ...table.cells.map((cells) => `<tr>${cells.map((text, index) => cell('td', text, index)).join('')}</tr>`),
    '</tbody>',
    '</table>',
  ].join('\n');
}

/** `cellClasses`: a class for the cells of each column ('' for none). */
function plainTable(header: readonly string[], rows: readonly (readonly string[])[], className: string, cellClasses: readonly string[] = []): string {
  const cell = (text: string, index: number) => `<td${cellClasses[index] ? ` class="${cellClasses[index]}"` : ''}>${escape(text)}</td>`;
  return [
    `<table class="${className}">`,
    `<thead><tr>${header.map((text) => `<th>${escape(text)}</th>`).join('')}</tr></thead>`,
    '<tbody>',
    ...rows.map((cells) => `<tr>${cells.map(cell).join('')}</tr>`),
    '</tbody>',
    '</table>',
  ].join('\n');
}

const time = (milliseconds: number) => new Date(milliseconds).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
const seconds = (value: number | null) => (value === null ? '' : value < 60 ? `${value.toFixed(1)} s` : `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`);
const paramsText = (params: Readonly<Record<string, unknown>>) =>
  Object.entries(params)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(', ');

const STYLE = `
body { font-family: Helvetica, Arial, "DejaVu Sans", sans-serif; color: #1a1a1a; margin: 2rem auto; max-width: 1000px; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.subtitle { color: #555; margin-top: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { padding: 0.2rem 0.55rem; border-bottom: 1px solid #e3e3e3; text-align: left; white-space: nowrap; }
th { border-bottom: 2px solid #999; } .number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figure.plot img { width: 640px; } figcaption { font-size: 0.9rem; color: #444; }
.notes { font-size: 0.85rem; color: #444; } ul.files { columns: 3; font-size: 0.9rem; }
td.params { white-space: normal; font-family: monospace; font-size: 0.8rem; }
`;

export function renderHtmlReport(input: HtmlReportInput): string {
  const figures = reportFigures(input.data, input.grid).map(({ name, figure, caption }) => {
    const source = name === 'grid' ? dataUri('image/png', input.grid) : dataUri('image/svg+xml', new TextEncoder().encode(renderSvg(figure)));
    return `<figure class="${name === 'grid' ? 'grid' : 'plot'}" id="figure-${name}"><img src="${source}" alt="${escape(figure.title)}"><figcaption>${escape(caption)}</figcaption></figure>`;
  });
  const overrides = input.overrides.length === 0 ? '' : ` with <code>${input.overrides.map((override) => `--set ${escape(override)}`).join(' ')}</code>`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>passeurs report: ${escape(input.config)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<h1>Exemples passeurs: report</h1>',
    `<p class="subtitle">${escape(input.config)}${overrides}, instance <code>${escape(input.reportInstance)}</code></p>`,
    '<h2>Results</h2>',
    '<div class="scroll">',
    htmlTable(compactTable(input.data), 'compact'),
    '</div>',
    `<div class="notes">${reportNotes(input.data).map((note) => `<p>${escape(note)}</p>`).join('\n')}</div>`,
    '<h2>Figures</h2>',
    ...figures,
    '<h2>Every statistic</h2>',
    '<div class="scroll">',
    htmlTable(fullTable(input.data), 'full'),
    '</div>',
    '<h2>Files</h2>',
    '<p>Every table and figure, for a paper (PDF and LaTeX) or a spreadsheet (CSV):</p>',
    '<ul class="files">',
    ...input.files.map((file) => `<li><a download="${escape(file.name)}" href="${dataUri(mediaType(file.name), file.bytes)}">${escape(file.name)}</a></li>`),
    '</ul>',
    '<h2>Stages: params and timings</h2>',
    '<p>Each stage instance of the config, its params, and how long the run that computed its current result took.</p>',
    '<div class="scroll">',
    plainTable(
      ['instance', 'stage', 'time', 'params'],
      input.instances.map((record) => [record.instance, record.stage, seconds(record.seconds), paramsText(record.params)]),
      'instances',
      ['', '', 'number', 'params'],
    ),
    '</div>',
    '<h2>Run history</h2>',
    '<div class="scroll">',
    plainTable(
      ['run', 'started', 'duration', 'status', 'ran', 'cached', 'failed', 'config', 'command'],
      input.runs.map((run) => [
        String(run.id),
        time(run.startedAtMs),
        run.finishedAtMs === null ? '' : seconds((run.finishedAtMs - run.startedAtMs) / 1000),
        run.status,
        String(run.executed),
        String(run.cached),
        String(run.failed),
        run.config,
        run.command,
      ]),
      'runs',
      ['number', '', 'number', '', 'number', 'number', 'number'],
    ),
    '</div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
