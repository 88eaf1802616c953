// `pipeline report [config]`: prints the report table of a config from the cache, rendered by
// the same functions as the report stage's own table files.

import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_CONFIG } from '../pipeline/config.js';
import type { AnyStage } from '../pipeline/stage.js';
import { SelectionError } from '../pipeline/engine.js';
import { Workspace } from '../pipeline/workspace.js';
import { stages } from '../stages/index.js';
import { reportStage } from '../stages/report.js';
import { REPORT_FORMATS, renderReport, reportDataFromJson, type ReportFormat } from '../stages/report-tables.js';
import { auditReportStage } from '../stages/audit-report.js';
import { auditReportFromJson, renderAuditReport } from '../stages/audit-tables.js';
import type { JsonValue } from '../pipeline/stage.js';

/** The stages whose `rows` this command prints, and how each renders them. */
const RENDERERS: ReadonlyMap<string, (rows: JsonValue, where: string, format: ReportFormat) => string> = new Map([
  [reportStage.name, (rows: JsonValue, where: string, format: ReportFormat) => renderReport(reportDataFromJson(rows, where), format)],
  [auditReportStage.name, (rows: JsonValue, where: string, format: ReportFormat) => renderAuditReport(auditReportFromJson(rows, where), format)],
]);

export interface ReportRequest {
  readonly config: string;
  readonly format: ReportFormat;
  readonly cacheDir?: string;
  readonly overrides?: readonly string[];
  /** Which report instance, when the config has several. */
  readonly instance?: string;
}

/** The table of the config's report instance, from its cached `rows`; throws when it is not computed. */
export async function reportText(request: ReportRequest, registry: readonly AnyStage[] = stages): Promise<string> {
  const workspace = Workspace.open({ config: request.config, stages: registry, cacheDir: request.cacheDir, overrides: request.overrides });
  try {
    const reports = workspace.instances().filter((instance) => RENDERERS.has(instance.stageType));
    const names = reports.map((instance) => instance.name);
    if (reports.length === 0) {
      throw new SelectionError(`${request.config} has no stage that uses '${[...RENDERERS.keys()].join("' or '")}'; add one to print its table`);
    }
    if (request.instance !== undefined && !names.includes(request.instance)) {
      throw new SelectionError(`${request.config} has no report instance '${request.instance}'; its report instances: ${names.join(', ')}`);
    }
    if (request.instance === undefined && reports.length > 1) {
      throw new SelectionError(`${request.config} has several report instances (${names.join(', ')}); pick one with --instance`);
    }
    const name = request.instance ?? names[0];
    const render = RENDERERS.get(reports.find((instance) => instance.name === name)!.stageType)!;
    return render(await workspace.load<'json'>(name, 'rows'), `${name}.rows`, request.format);
  } finally {
    workspace.close();
  }
}

interface ReportArguments {
  config: string;
  format: ReportFormat;
  /** The CLI's global option. */
  'cache-dir'?: string;
  set?: string[];
  instance?: string;
}

export const reportCommand: CommandModule<object, ReportArguments> = {
  command: 'report [config]',
  describe: 'Print the report table (rows k, both directions, bound, paper figures, perturbation statistics) from the cache',
  builder: (yargs: Argv) =>
    yargs
      .positional('config', { type: 'string', default: DEFAULT_CONFIG, describe: 'pipeline config (YAML)' })
      .option('format', { choices: REPORT_FORMATS, default: 'md' as ReportFormat, describe: 'json: machine-readable rows; csv, md, tex: the table' })
      .option('set', { type: 'string', array: true, describe: 'config overrides, name=value or stage.param=value' })
      .option('instance', { type: 'string', describe: 'the report instance, when the config has several' })
      .example('$0 report configs/smoke.yaml', 'the Markdown table of the smoke run')
      .example('$0 report --format tex > table.tex', "the main config's table for a LaTeX paper"),
  handler: async (args) => {
    process.stdout.write(
      await reportText({ config: args.config, format: args.format, cacheDir: args['cache-dir'], overrides: args.set, instance: args.instance }),
    );
  },
};
