// Times warm no-op `pipeline run`s (every stage fresh: the run parses the config, hashes keys and
// outside inputs through the stat cache, checks the history and the artifacts' sizes, records the
// run) as new processes, the way a user types them:
// - the study of configs/smoke.yaml (57 stages), through `node dist/pipeline/cli.js` (the bundled
//   CLI, no npm in between) and through `npx pipeline`; its cache is made warm first (one real run
//   of the smoke study, about a minute, kept in --cache-dir for the next time);
// - a 20-stage config of a trivial stage type, through the same bundle plus that type, with and
//   without the project's stages and commands, and in-process (modules already loaded);
// - `node -e 0`, Node's own start.
// The commands of a group run interleaved, so that a change of the machine's load hits them alike.
// CPU time (user + system, the command's children included: git, npm) says more than wall time
// on a shared machine.
//
// Usage: npm run build && node dist/bench/noop-run.js [--repetitions 11] [--json]
//          [--cache-dir DIR] [--mirror CIFAR10_FOLDER] [--skip-npx]

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { benchOptions } from './options.js';
import { runCli } from '../pipeline/cli-app.js';
import { benchStep } from './noop-stage.js';

const USAGE = 'usage: node dist/bench/noop-run.js [--repetitions 11] [--json] [--cache-dir DIR] [--mirror CIFAR10_FOLDER] [--skip-npx]';
const options = benchOptions(
  {
    repetitions: { type: 'string', default: '11' },
    json: { type: 'boolean', default: false },
    'cache-dir': { type: 'string', default: join(tmpdir(), 'passeurs-bench-noop-smoke') },
    mirror: { type: 'string' },
    'skip-npx': { type: 'boolean', default: false },
  },
  USAGE,
);
const repetitions = Number(options.repetitions);
const root = join(import.meta.dirname, '../..');

// Two seeds and two chains of nine: 20 stage instances.
const CHAIN_CONFIG = `
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

interface Command {
  readonly label: string;
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

interface Timing {
  readonly label: string;
  readonly command: string;
  readonly wallMs: number[];
  /** null where /proc is missing (not Linux). */
  readonly cpuMs: number[] | null;
}

// Fields 16 and 17 of /proc/self/stat: user and system time of the children waited for, in
// clock ticks (100 per second on Linux).
const TICK_MS = 10;
function childrenCpuMs(): number | null {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
  } catch {
    return null;
  }
}

function runOnce({ command, env }: Command): { wallMs: number; cpuMs: number | null } {
  const cpuBefore = childrenCpuMs();
  const start = performance.now();
  const result = spawnSync(command[0]!, command.slice(1), { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
  const wallMs = performance.now() - start;
  if (result.status !== 0) throw new Error(`${command.join(' ')} exited ${result.status}:\n${result.stderr}`);
  const cpuAfter = childrenCpuMs();
  return { wallMs, cpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore };
}

/** Each command `repetitions` times, interleaved. */
function timeInterleaved(commands: readonly Command[]): Timing[] {
  const timings = commands.map(({ label, command }) => ({ label, command: command.join(' '), wallMs: [] as number[], cpuMs: [] as number[] | null }));
  for (let repetition = 0; repetition < repetitions; repetition++) {
    commands.forEach((command, index) => {
      const { wallMs, cpuMs } = runOnce(command);
      const timing = timings[index]!;
      timing.wallMs.push(wallMs);
      if (cpuMs === null) timing.cpuMs = null;
      else timing.cpuMs?.push(cpuMs);
    });
  }
  return timings;
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const node = process.execPath;
const smokeRun = ['run', 'configs/smoke.yaml', '--cache-dir', options['cache-dir'], ...(options.mirror ? ['--set', `mirror=${options.mirror}`] : [])];
const folder = mkdtempSync(join(tmpdir(), 'passeurs-noop-'));
const loadBefore = loadavg()[0]!;
try {
  const warmUp = runOnce({ label: 'smoke study, first run', command: [node, 'dist/pipeline/cli.js', ...smokeRun] });
  const smoke = timeInterleaved([
    { label: 'smoke study: node dist/pipeline/cli.js run', command: [node, 'dist/pipeline/cli.js', ...smokeRun] },
    ...(options['skip-npx'] ? [] : [{ label: 'smoke study: npx pipeline run', command: ['npx', 'pipeline', ...smokeRun] }]),
    { label: 'node -e 0 (Node start alone)', command: [node, '-e', '0'] },
  ]);

  // The bench's CLI bundled as the shipped one is (scripts/bundle.mjs), into dist/bench so that
  // its native packages resolve from the project's node_modules.
  const bundleModule = pathToFileURL(join(root, 'scripts/bundle.mjs')).href;
  const { bundle } = (await import(bundleModule)) as { bundle: (entry: string, outdir: string) => Promise<void> };
  const bundled = join(root, 'dist/bench/noop-cli-bundle');
  await bundle('bench/noop-cli.ts', bundled);
  const configPath = join(folder, 'noop.yaml');
  writeFileSync(configPath, CHAIN_CONFIG);
  const chainRun = [join(bundled, 'noop-cli.js'), 'run', configPath, '--cache-dir', join(folder, 'cache')];
  runOnce({ label: '20 stages, first run', command: [node, ...chainRun] });
  const chain = timeInterleaved([
    { label: '20 stages: bundled CLI', command: [node, ...chainRun] },
    { label: '20 stages: bundled CLI, engine only (no project stages or commands)', command: [node, ...chainRun], env: { PASSEURS_BENCH_ENGINE_ONLY: '1' } },
  ]);
  const inProcess: number[] = [];
  const quiet = { write: () => true };
  for (let repetition = 0; repetition < repetitions; repetition++) {
    const start = performance.now();
    const code = await runCli(chainRun.slice(1), { stages: [benchStep], commands: [], stdout: quiet, stderr: quiet });
    inProcess.push(performance.now() - start);
    if (code !== 0) throw new Error(`in-process run exited ${code}`);
  }

  const summary = (timing: Timing) => ({
    label: timing.label,
    command: timing.command,
    wallMedianMs: Math.round(median(timing.wallMs)),
    wallMinMs: Math.round(Math.min(...timing.wallMs)),
    cpuMedianMs: timing.cpuMs && Math.round(median(timing.cpuMs)),
  });
  const report = {
    repetitions,
    loadAverage: { before: loadBefore, after: loadavg()[0]! },
    smokeFirstRunMs: Math.round(warmUp.wallMs),
    results: [...smoke, ...chain].map(summary),
    inProcess20Stages: { label: '20 stages: in-process (modules loaded)', wallMedianMs: Math.round(median(inProcess)), wallMinMs: Math.round(Math.min(...inProcess)) },
  };
  if (options.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(`${repetitions} repetitions each, interleaved; load average ${report.loadAverage.before.toFixed(1)} -> ${report.loadAverage.after.toFixed(1)}`);
    console.log(`first run of the smoke study (computes what its cache lacks): ${report.smokeFirstRunMs} ms`);
    const line = (label: string, wall: number, min: number, cpu: number | null | undefined) =>
      console.log(`${label.padEnd(72)} median ${String(wall).padStart(5)} ms, min ${String(min).padStart(5)} ms${cpu === undefined ? '' : `, CPU ${cpu ?? '-'} ms`}`);
    for (const result of report.results) line(result.label, result.wallMedianMs, result.wallMinMs, result.cpuMedianMs);
    line(report.inProcess20Stages.label, report.inProcess20Stages.wallMedianMs, report.inProcess20Stages.wallMinMs, undefined);
  }
} finally {
  rmSync(folder, { recursive: true, force: true });
}
