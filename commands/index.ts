// CLI commands that know about the study (report, export), added beside the engine's own.
import type { CommandModule } from 'yargs';
import { reportCommand } from './report.js';
import { exportCommand } from './export.js';

export const studyCommands: readonly CommandModule[] = [reportCommand as CommandModule, exportCommand as CommandModule];
