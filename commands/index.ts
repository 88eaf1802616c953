// CLI commands that know about the study (report, export), added beside the engine's own.
import type { CommandModule } from 'yargs';
import { reportCommand } from './report.js';

export const studyCommands: readonly CommandModule[] = [reportCommand as CommandModule];
