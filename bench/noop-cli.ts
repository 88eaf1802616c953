// The `pipeline` CLI as shipped (project registry and study commands, so their import cost
// counts), plus one trivial stage type for bench/noop-run.ts. With PASSEURS_BENCH_ENGINE_ONLY=1
// it leaves the project's stages and commands out, to show the engine's own share.
import { runCli } from '../pipeline/cli-app.js';
import { defineStage, type AnyStage } from '../pipeline/stage.js';
import type { CommandModule } from 'yargs';

const benchStep = defineStage({
  name: 'bench-step',
  version: 1,
  description: 'appends a number to a list (for the no-op benchmark)',
  params: { value: { type: 'integer', description: 'number appended' } },
  inputs: { previous: { kind: 'json', description: 'list so far', optional: true } },
  outputs: { list: { kind: 'json', description: 'the list' } },
  async run(inputs, params) {
    const previous = (inputs.previous ?? []) as number[];
    return { list: [...previous, params.value] };
  },
});

const engineOnly = process.env.PASSEURS_BENCH_ENGINE_ONLY === '1';
const projectStages: readonly AnyStage[] = engineOnly ? [] : (await import('../stages/index.js')).stages;
const projectCommands: readonly CommandModule[] = engineOnly ? [] : (await import('../commands/index.js')).studyCommands;
process.exitCode = await runCli(process.argv.slice(2), { stages: [...projectStages, benchStep], commands: projectCommands });
