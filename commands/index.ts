// CLI commands that know about the study (report, export), added beside the engine's own.
import type { CommandModule } from 'yargs';

export const studyCommands: readonly CommandModule[] = [];
