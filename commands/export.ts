// `pipeline export <instance.output> [config] --format libsvm|liblinear --out FILE`: writes a
// cached feature table in libsvm format or a cached model in LIBLINEAR's model format, so any
// result can be checked with liblinear-train / liblinear-predict.

import { randomBytes } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { resolveCacheDir } from '../pipeline/cache-handle.js';
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
  /** Replace `out` if it exists (otherwise an existing file is refused). */
  readonly force?: boolean;
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

/** Refuses an --out that is a folder or not a regular file, lies in a missing folder or inside the cache, or exists (without force). */
function checkDestination(out: string, force: boolean, cacheDir: string): void {
  const folder = dirname(resolve(out));
  if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) throw new SelectionError(`--out ${out}: the folder ${folder} does not exist; create it first, or write elsewhere`);
  const existing = statSync(out, { throwIfNoEntry: false });
  if (existing?.isDirectory()) throw new SelectionError(`--out ${out} is a folder; give a file name, e.g. --out ${join(out, 'export.txt')}`);
  if (existing && !existing.isFile()) throw new SelectionError(`--out ${out} is not a regular file (a device or a pipe?); give a file name`);
  const cache = statSync(cacheDir, { throwIfNoEntry: false }) ? realpathSync(cacheDir) : resolve(cacheDir);
  const fromCache = relative(cache, join(realpathSync(folder), basename(out)));
  const outsideCache = fromCache === '..' || fromCache.startsWith(`..${sep}`) || isAbsolute(fromCache);
  if (!outsideCache) throw new SelectionError(`--out ${out} lies inside the cache ${cache}, which only the pipeline writes; write elsewhere`);
  if (existing && !force) throw new SelectionError(`--out ${out} exists; add --force to replace it, or choose another name`);
}

/** Writes the artifact to `out` through a temporary file beside it, renamed when complete (removed on failure). */
export async function exportArtifact(request: ExportRequest, registry: readonly AnyStage[] = stages): Promise<void> {
  const { instance, output } = splitReference(request.reference);
  checkDestination(request.out, request.force ?? false, resolveCacheDir(request.cacheDir));
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
    const temporary = join(dirname(request.out), `.${basename(request.out)}.${randomBytes(6).toString('hex')}.partial`);
    try {
      if (request.format === 'libsvm') {
        await writeLibsvmFile(tableToFeatureSet(table), temporary);
      } else {
        await writeFile(temporary, writeLiblinearModel(tableToModel(table)));
      }
      await rename(temporary, request.out);
    } finally {
      await rm(temporary, { force: true });
    }
  } finally {
    workspace.close();
  }
}

interface ExportArguments {
  reference: string;
  config: string;
  format: ExportFormat;
  out: string;
  force: boolean;
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
      .option('out', { type: 'string', demandOption: true, describe: 'file to write (outside the cache)' })
      .option('force', { type: 'boolean', default: false, describe: 'replace --out if it exists' })
      .option('set', { type: 'string', array: true, describe: 'config overrides, name=value or stage.param=value' })
      .example('$0 export features@split=test.features configs/smoke.yaml --format libsvm --out test.libsvm', 'features for liblinear-train / liblinear-predict')
      .example('$0 export reference.desired configs/smoke.yaml --format liblinear --out desired.model', "the desired model in LIBLINEAR's model format"),
  handler: async (args) => {
    await exportArtifact({ reference: args.reference, config: args.config, format: args.format, out: args.out, force: args.force, cacheDir: args['cache-dir'], overrides: args.set });
  },
};
