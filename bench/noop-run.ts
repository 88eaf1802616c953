// Times a warm no-op `pipeline run` of a 20-stage config: every stage fresh, so the run only
// parses, hashes keys, checks the history and the artifacts' sizes, and records the run.
// Usage: npx tsc -p . && node dist/bench/noop-run.js [repetitions]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCli } from '../pipeline/cli-app.js';
import { benchStep } from './noop-stage.js';

// Two seeds and two chains of nine: 20 stage instances.
const CONFIG = `
stages:
  - name: seed
    uses: bench-step
    matrix: { branch: [1, 2] }
    params: { value: 0 }
  - name: chain
    uses: bench-step
    matrix: { branch: [1, 2], k: [1, 2, 3, 4, 5, 6, 7, 8, 9] }
    params: { value: "\${k}" }
    inputs:
      previous: ["chain@branch=\${branch},k=\${k-1}.list", "seed@branch=\${branch}.list"]
`;

const repetitions = Number(process.argv[2] ?? 7);
const folder = mkdtempSync(join(tmpdir(), 'passeurs-noop-'));
const configPath = join(folder, 'noop.yaml');
const cli = join(import.meta.dirname, 'noop-cli.js');

function timed(args: readonly string[], env: Record<string, string> = {}): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}:\n${result.stderr}`);
  return elapsed;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  writeFileSync(configPath, CONFIG);
  const run = [cli, 'run', configPath, '--cache-dir', join(folder, 'cache')];
  const cold = timed(run);
  const warm = Array.from({ length: repetitions }, () => timed(run));
  const engineOnly = Array.from({ length: repetitions }, () => timed(run, { PASSEURS_BENCH_ENGINE_ONLY: '1' }));
  const nodeAlone = Array.from({ length: repetitions }, () => timed(['-e', '0']));
  const inProcess: number[] = [];
  const quiet = { write: () => true };
  for (let repetition = 0; repetition < repetitions; repetition++) {
    const start = performance.now();
    const code = await runCli(run.slice(1), { stages: [benchStep], commands: [], stdout: quiet, stderr: quiet });
    inProcess.push(performance.now() - start);
    if (code !== 0) throw new Error(`in-process run exited ${code}`);
  }
  const report = (label: string, times: number[]) => console.log(`${label.padEnd(50)} median ${median(times).toFixed(0)} ms, min ${Math.min(...times).toFixed(0)} ms`);
  console.log(`cold run (20 stages computed): ${cold.toFixed(0)} ms; ${repetitions} repetitions of each below`);
  report('warm no-op run, 20 stages, shipped CLI:', warm);
  report('same, engine only (no project stages/commands):', engineOnly);
  report('node -e 0 (process start alone):', nodeAlone);
  report('warm no-op run in-process (modules already loaded):', inProcess);
} finally {
  rmSync(folder, { recursive: true, force: true });
}
