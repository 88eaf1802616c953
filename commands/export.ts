// `pipeline export <instance.output> [config] --format libsvm|liblinear --out FILE`: writes a
// cached feature table in libsvm format or a cached model in LIBLINEAR's model format, so any
// result can be checked with liblinear-train / liblinear-predict.

import { rename, writeFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_CONFIG } from '../pipeline/config.js';
import { SelectionError } from '../pipeline/engine.js';
import { Workspace } from '../pipeline/workspace.js';
import type { AnyStage } from '../pipeline/stage.js';
import { stages } from '../stages/index.js';
import { tableToFeatureSet } from '../data/tables.js';
import { tableToModel, writeLiblinearModel, writeLibsvmFile } from '../numerics/svm/index.js';

export const EXPORT_FORMATS = ['libsvm', 'liblinear'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Which tables each format writes, told apart by a column only they have. */
const EXPORTABLE: readonly { format: ExportFormat; column: string; what: string; example: string }[] = [
  { format: 'libsvm', column: 'features', what: 'a feature table', example: 'features@split=test.features' },
  { format: 'liblinear', column: 'weights', what: 'a model', example: 'reference.desired' },
];

export interface ExportRequest {
  /** `instance.output`, e.g. `features@split=test.features` or `reference.desired`. */
  readonly reference: string;
  readonly config: string;
  readonly format: ExportFormat;
  readonly out: string;
  readonly cacheDir?: string;
  readonly overrides?: readonly string[];
}

function splitReference(reference: string): { instance: string; output: string } {
  const dot = reference.lastIndexOf('.');
  if (dot <= 0 || dot === reference.length - 1) {
    throw new SelectionError(`'${reference}' is not instance.output (e.g. features@split=test.features or reference.desired)`);
  }
  return { instance: reference.slice(0, dot), output: reference.slice(dot + 1) };
}

/** Writes the artifact to `out` (through a temporary file, renamed when complete). */
export async function exportArtifact(request: ExportRequest, registry: readonly AnyStage[] = stages): Promise<void> {
  const { instance, output } = splitReference(request.reference);
  const workspace = Workspace.open({ config: request.config, stages: registry, cacheDir: request.cacheDir, overrides: request.overrides });
  try {
    const info = workspace.instances().find((candidate) => candidate.name === instance);
    if (!info) throw new SelectionError(`${request.config} has no instance '${instance}' (see \`pipeline dag ${request.config}\`)`);
    const declared = info.outputs.find((candidate) => candidate.name === output);
    if (!declared) throw new SelectionError(`${instance} has no output '${output}'; its outputs: ${info.outputs.map((o) => o.name).join(', ')}`);
    if (declared.kind !== 'table') throw new SelectionError(`${request.reference} is a ${declared.kind}, not a feature table or a model`);
    const table = await workspace.load<'table'>(instance, output);
    const found = EXPORTABLE.find((candidate) => table.getChild(candidate.column) !== null);
    if (found?.format !== request.format) {
      const wanted = EXPORTABLE.find((candidate) => candidate.format === request.format)!;
      const fix = found ? `for ${found.what} use --format ${found.format}` : `export ${EXPORTABLE.map((candidate) => `${candidate.what} (e.g. ${candidate.example})`).join(' or ')}`;
      throw new SelectionError(`${request.reference} is ${found?.what ?? `a table of ${table.schema.fields.map((field) => field.name).join(', ')}`}; --format ${request.format} writes ${wanted.what} (e.g. ${wanted.example}); ${fix}`);
    }
    const temporary = `${request.out}.partial`;
    if (request.format === 'libsvm') {
      await writeLibsvmFile(tableToFeatureSet(table), temporary);
    } else {
      await writeFile(temporary, writeLiblinearModel(tableToModel(table)));
    }
    await rename(temporary, request.out);
  } finally {
    workspace.close();
  }
}

interface ExportArguments {
  reference: string;
  config: string;
  format: ExportFormat;
  out: string;
  'cache-dir'?: string;
  set?: string[];
}

export const exportCommand: CommandModule<object, ExportArguments> = {
  command: 'export <reference> [config]',
  describe: "Write a cached feature table (libsvm format) or model (LIBLINEAR's model format) to a file",
  builder: (yargs: Argv) =>
    yargs
      .positional('reference', { type: 'string', demandOption: true, describe: 'instance.output, e.g. features@split=test.features or reference.desired' })
      .positional('config', { type: 'string', default: DEFAULT_CONFIG, describe: 'pipeline config (YAML)' })
      .option('format', { choices: EXPORT_FORMATS, demandOption: true, describe: 'libsvm: features; liblinear: a model' })
      .option('out', { type: 'string', demandOption: true, describe: 'file to write' })
      .option('set', { type: 'string', array: true, describe: 'config overrides, name=value or stage.param=value' })
      .example('$0 export features@split=test.features configs/smoke.yaml --format libsvm --out test.libsvm', 'features for liblinear-train / liblinear-predict')
      .example('$0 export reference.desired configs/smoke.yaml --format liblinear --out desired.model', "the desired model in LIBLINEAR's model format"),
  handler: async (args) => {
    await exportArtifact({ reference: args.reference, config: args.config, format: args.format, out: args.out, cacheDir: args['cache-dir'], overrides: args.set });
  },
};
