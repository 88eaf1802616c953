// `pipeline report <config>`: a config's report from the cache. Prints one table (md, csv, tex,
// tex-compact, json) or the single-file HTML report; with --out, writes the HTML report to a file
// (--format html) or every table and figure into a folder. Tables and figures are rendered from
// the report stage's cached rows and grid by the same functions as the stage's own files.

import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_CONFIG } from '../pipeline/config.js';
import type { AnyStage } from '../pipeline/stage.js';
import { SelectionError } from '../pipeline/engine.js';
import { Workspace } from '../pipeline/workspace.js';
import { stages } from '../stages/index.js';
import { reportStage } from '../stages/report.js';
import { reportDataFromJson } from '../report/data.js';
import { reportFiles } from '../report/files.js';
import { renderHtmlReport, type InstanceRecord, type RunRecordView } from '../report/html.js';
import { renderCompactLatex, renderCsv, renderJson, renderLatex, renderMarkdown } from '../report/tables.js';
import { AUDIT_FORMATS, auditReportFromJson, renderAuditReport, type AuditFormat } from '../report/audit-tables.js';
import { auditReportStage } from '../stages/audit-report.js';

export const REPORT_FORMATS = ['md', 'csv', 'tex', 'tex-compact', 'json', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const TABLE_RENDERERS = { md: renderMarkdown, csv: renderCsv, tex: renderLatex, 'tex-compact': renderCompactLatex, json: renderJson };

export interface ReportRequest {
  readonly config: string;
  readonly format: ReportFormat;
  readonly cacheDir?: string;
  readonly overrides?: readonly string[];
  /** Which report instance, when the config has several. */
  readonly instance?: string;
}

/** Runs shown in the HTML report's history. */
const HISTORY_RUNS = 30;

/** The stages whose results this command shows. */
const REPORT_STAGES = [reportStage.name, auditReportStage.name];

function reportInstance(workspace: Workspace, request: ReportRequest): { name: string; stageType: string } {
  const reports = workspace.instances().filter((instance) => REPORT_STAGES.includes(instance.stageType));
  const names = reports.map((instance) => instance.name);
  if (names.length === 0) throw new SelectionError(`${request.config} has no stage that uses '${REPORT_STAGES.join("' or '")}'; add one to print its table`);
  if (request.instance !== undefined && !names.includes(request.instance)) {
    throw new SelectionError(`${request.config} has no report instance '${request.instance}'; its report instances: ${names.join(', ')}`);
  }
  if (request.instance === undefined && names.length > 1) {
    throw new SelectionError(`${request.config} has several report instances (${names.join(', ')}); pick one with --instance`);
  }
  return reports.find((instance) => instance.name === (request.instance ?? names[0]))!;
}

/** The audit section (configs/audit.yaml): its table in one format, or (--out DIR) its files. */
async function auditReport(workspace: Workspace, name: string, request: ReportRequest & { readonly out?: string }): Promise<{ text?: string; files?: { name: string; bytes: Uint8Array | string }[] }> {
  const report = auditReportFromJson(await workspace.load<'json'>(name, 'rows'), `${name}.rows`);
  if (!('out' in request) || request.out === undefined) {
    if (!(AUDIT_FORMATS as readonly string[]).includes(request.format)) {
      throw new SelectionError(`the audit report ${name} is printed as ${AUDIT_FORMATS.join(', ')}; for its tables and plots use --out DIR`);
    }
    return { text: renderAuditReport(report, request.format as AuditFormat) };
  }
  const files: { name: string; bytes: Uint8Array | string }[] = AUDIT_FORMATS.map((format) => ({ name: `audit.${format}`, bytes: renderAuditReport(report, format) }));
  for (const plot of ['accuracy_plot', 'roc_plot', 'power_plot']) files.push({ name: `audit-${plot.replace('_plot', '')}.svg`, bytes: (await workspace.load<'blob'>(name, plot)).bytes });
  return { files };
}

/** Each instance's params, and how long the execution that computed its current result took. */
function instanceRecords(workspace: Workspace): InstanceRecord[] {
  const instances = workspace.instances();
  const wanted = new Set(instances.map((instance) => instance.key).filter((key): key is string => key !== null));
  const durations = new Map<string, number>();
  const history = workspace.cache.history;
  for (const run of history.runs(Number.MAX_SAFE_INTEGER)) {
    if (durations.size === wanted.size) break;
    for (const execution of history.executionsOf(run.id)) {
      if (execution.status === 'succeeded' && execution.key !== null && wanted.has(execution.key) && !durations.has(execution.key) && execution.durationMs !== null) {
        durations.set(execution.key, execution.durationMs);
      }
    }
  }
  return instances.map((instance) => {
    const milliseconds = instance.key === null ? undefined : durations.get(instance.key);
    return { instance: instance.name, stage: instance.stageType, params: instance.params, seconds: milliseconds === undefined ? null : milliseconds / 1000 };
  });
}

function configRuns(workspace: Workspace): RunRecordView[] {
  const file = resolve(workspace.pipeline.file);
  return workspace.cache.history.runs(Number.MAX_SAFE_INTEGER).filter((run) => resolve(run.config) === file).slice(0, HISTORY_RUNS);
}

interface LoadedReport {
  readonly name: string;
  readonly data: ReturnType<typeof reportDataFromJson>;
  readonly grid: Uint8Array;
  readonly html: () => Promise<string>;
}

async function loadStudyReport(workspace: Workspace, name: string, request: ReportRequest): Promise<LoadedReport> {
  const data = reportDataFromJson(await workspace.load<'json'>(name, 'rows'), `${name}.rows`);
  const grid = (await workspace.load<'blob'>(name, 'grid')).bytes;
  const html = async () =>
    renderHtmlReport({
      config: request.config,
      reportInstance: name,
      overrides: request.overrides ?? [],
      data,
      grid,
      files: await reportFiles(data, grid),
      instances: instanceRecords(workspace),
      runs: configRuns(workspace),
    });
  return { name, data, grid, html };
}

/** Opens the config's cache, finds its report instance, and closes the cache when `use` is done. */
async function withReportInstance<T>(request: ReportRequest, registry: readonly AnyStage[], use: (workspace: Workspace, instance: { name: string; stageType: string }) => Promise<T>): Promise<T> {
  const workspace = Workspace.open({ config: request.config, stages: registry, cacheDir: request.cacheDir, overrides: request.overrides });
  try {
    return await use(workspace, reportInstance(workspace, request));
  } finally {
    workspace.close();
  }
}

/** The report in one format, from the cache (throws when it is not computed). */
export async function reportText(request: ReportRequest, registry: readonly AnyStage[] = stages): Promise<string> {
  return withReportInstance(request, registry, async (workspace, instance) => {
    if (instance.stageType === auditReportStage.name) return (await auditReport(workspace, instance.name, request)).text!;
    const report = await loadStudyReport(workspace, instance.name, request);
    return request.format === 'html' ? report.html() : TABLE_RENDERERS[request.format](report.data);
  });
}

/**
 * Writes the report: the HTML report to the file `out` for --format html, else every table and
 * figure (and report.html) into the folder `out`. Returns the paths written.
 */
export async function writeReport(request: ReportRequest & { readonly out: string }, registry: readonly AnyStage[] = stages): Promise<string[]> {
  const html = request.format === 'html';
  const isFolder = existsSync(request.out) && statSync(request.out).isDirectory();
  if (html && isFolder) throw new SelectionError(`--out ${request.out} is a folder; with --format html, give the file to write, e.g. ${join(request.out, 'report.html')}`);
  if (!html && existsSync(request.out) && !isFolder) {
    throw new SelectionError(`--out ${request.out} is a file; give a folder for every table and figure, or add --format html to write one HTML file`);
  }
  return withReportInstance(request, registry, async (workspace, instance) => {
    let files: { path: string; bytes: Uint8Array | string }[];
    if (instance.stageType === auditReportStage.name) {
      if (html) throw new SelectionError(`the audit report ${instance.name} has no HTML form; use --out DIR for its tables and plots`);
      files = (await auditReport(workspace, instance.name, request)).files!.map((file) => ({ path: join(request.out, file.name), bytes: file.bytes }));
    } else {
      const report = await loadStudyReport(workspace, instance.name, request);
      files = html
        ? [{ path: request.out, bytes: await report.html() }]
        : [...(await reportFiles(report.data, report.grid)), { name: 'report.html', bytes: await report.html() }].map((file) => ({ path: join(request.out, file.name), bytes: file.bytes }));
    }
    for (const file of files) {
      try {
        mkdirSync(dirname(file.path), { recursive: true });
        writeFileSync(file.path, file.bytes);
      } catch (error) {
        throw new SelectionError(`cannot write ${file.path}: ${(error as Error).message}`);
      }
    }
    return files.map((file) => file.path);
  });
}

interface ReportArguments {
  config: string;
  format: ReportFormat;
  out?: string;
  /** The CLI's global option. */
  'cache-dir'?: string;
  set?: string[];
  instance?: string;
}

export const reportCommand: CommandModule<object, ReportArguments> = {
  command: 'report [config]',
  describe: 'The report from the cache: a table, the single-file HTML report, or (--out DIR) every table and figure',
  builder: (yargs: Argv) =>
    yargs
      .positional('config', { type: 'string', default: DEFAULT_CONFIG, describe: 'pipeline config (YAML)' })
      .option('format', {
        choices: REPORT_FORMATS,
        default: 'md' as ReportFormat,
        describe: 'md, csv, tex: the full table (md: and the compact one); tex-compact: at most six columns; json: machine-readable rows; html: everything in one file',
      })
      .option('out', { type: 'string', describe: 'with --format html: the HTML file to write; otherwise a folder for every table and figure (SVG, PDF, PNG, LaTeX, CSV, JSON, HTML)' })
      .option('set', { type: 'string', array: true, describe: 'config overrides, name=value or stage.param=value' })
      .option('instance', { type: 'string', describe: 'the report instance, when the config has several' })
      .example('$0 report configs/smoke.yaml --format tex-compact', 'the compact LaTeX table')
      .example('$0 report configs/smoke.yaml --format html --out report.html', 'one HTML file, readable offline')
      .example('$0 report configs/smoke.yaml --out results/', 'every table and figure'),
  handler: async (args) => {
    const request = { config: args.config, format: args.format, cacheDir: args['cache-dir'], overrides: args.set, instance: args.instance };
    if (args.out === undefined) {
      process.stdout.write(await reportText(request));
      return;
    }
    for (const path of await writeReport({ ...request, out: args.out })) process.stdout.write(`wrote ${path}\n`);
  },
};
