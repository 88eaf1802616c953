// The `pipeline` CLI as shipped (project registry and study commands, so their import cost
// counts), plus the benchmark's stage type; bench/noop-run.ts bundles it as the shipped CLI is.
// With PASSEURS_BENCH_ENGINE_ONLY=1 it leaves the project's stages and commands out, to show the
// engine's own share.
import type { CommandModule } from 'yargs';
import { runCli } from '../pipeline/cli-app.js';
import type { AnyStage } from '../pipeline/stage.js';
import { benchStep } from './noop-stage.js';

const engineOnly = process.env.PASSEURS_BENCH_ENGINE_ONLY === '1';
const projectStages: readonly AnyStage[] = engineOnly ? [] : (await import('../stages/index.js')).stages;
const projectCommands: readonly CommandModule[] = engineOnly ? [] : (await import('../commands/index.js')).studyCommands;
process.exitCode = await runCli(process.argv.slice(2), { stages: [...projectStages, benchStep], commands: projectCommands });
