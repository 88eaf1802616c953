// Times our two SVM solvers against liblinear-train -s 1 and -s 2 on the same real features, in one run.
//
//   node dist/bench/svm.js --train TRAIN_FEATURES.arrow --test TEST_FEATURES.arrow
//                          [--solvers dual-cd,primal-newton] [--threads 2] [--rows N] [--json]
//
// --json prints one JSON object instead of the table, for scripts: the rows, and
// speedup_primal_newton_vs_s2 (and speedup_dual_cd_vs_s1): liblinear-train's seconds without its
// file load, divided by ours. Progress lines go to stderr then.
//
// --rows N keeps the first N training rows. Besides time, accuracy and objective, each pair of
// rows gives how far our model is from liblinear-train's: the share of test points both predict
// alike, and the largest relative difference of a weight.
//
// The feature files are featurize artifacts (`pipeline show features@split=train` prints the path).
// liblinear-train reads a text file; its time is given both whole and less the time it takes to
// read the file and stop at once (the "load" column: the same call with a tolerance so loose that
// it does no iteration). The load average is printed before and after: the 2 cores are shared.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchOptions } from './options.js';
import { arrow } from '../pipeline/arrow.js';
import { tableToFeatureSet, type FeatureSet } from '../data/tables.js';
import {
  LIBLINEAR_SOLVER,
  fitLinearSvm,
  predict,
  primalObjective,
  readLiblinearModel,
  writeLibsvmFile,
  type LinearSvmModel,
  type SvmSolver,
} from '../numerics/svm/index.js';

const USAGE = 'usage: node dist/bench/svm.js --train TRAIN_FEATURES.arrow --test TEST_FEATURES.arrow [--solvers dual-cd,primal-newton] [--threads 2] [--rows N] [--json]';
const args = benchOptions(
  {
    train: { type: 'string', default: '' },
    test: { type: 'string', default: '' },
    solvers: { type: 'string', default: 'dual-cd,primal-newton' },
    threads: { type: 'string', default: '2' },
    rows: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
  },
  USAGE,
);

function loadFeatures(path: string): FeatureSet {
  return tableToFeatureSet(arrow().tableFromIPC(readFileSync(path)));
}

function keepRows(set: FeatureSet, count: number): FeatureSet {
  if (!(count > 0) || count >= set.count) return set;
  return { ...set, count, labels: set.labels.subarray(0, count), features: set.features.subarray(0, count * set.dimension) };
}

function accuracy(predictions: Uint8Array, set: FeatureSet): number {
  let correct = 0;
  for (let i = 0; i < set.count; i++) if (predictions[i] === set.labels[i]) correct++;
  return correct / set.count;
}

function totalObjective(model: LinearSvmModel, set: FeatureSet): number {
  let sum = 0;
  for (let row = 0; row < model.biasWeights.length; row++) sum += primalObjective(model, set, row);
  return sum;
}

interface Row {
  readonly solver: string;
  readonly model: LinearSvmModel;
  readonly seconds: number;
  /** Ours: process CPU seconds (user + system) of the fit. */
  readonly cpuSeconds?: number;
  readonly loadSeconds?: number;
  readonly accuracy: number;
  readonly objective: number;
  readonly iterations: string;
}

function runLiblinear(solver: SvmSolver, trainFile: string, directory: string, train: FeatureSet, test: FeatureSet): Row {
  const modelFile = join(directory, `model-${solver}`);
  const option = String(LIBLINEAR_SOLVER[solver].option);
  const timed = (args: string[]) => {
    const start = performance.now();
    const result = spawnSync('liblinear-train', args, { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (result.status !== 0) throw new Error(`liblinear-train ${args.join(' ')} failed: ${result.stderr || result.error}`);
    return { seconds: (performance.now() - start) / 1000, output: result.stdout };
  };
  const load = timed(['-s', option, '-B', '1', '-e', '1e9', trainFile, join(directory, 'model-load')]);
  const run = timed(['-s', option, '-B', '1', trainFile, modelFile]);
  const model = readLiblinearModel(readFileSync(modelFile, 'utf8'), { classes: train.classes, dimension: train.dimension });
  const iterations =
    solver === 'dual-cd'
      ? [...run.output.matchAll(/#iter = (\d+)/g)].map((match) => match[1])
      : run.output.split('\n').reduce<string[]>((counts, line) => {
          // TRON prints one "iter N ..." line per trial step; a new class starts again at 1.
          const match = /^iter\s+(\d+)/.exec(line);
          if (match && match[1] === '1') counts.push('1');
          else if (match) counts[counts.length - 1] = match[1];
          return counts;
        }, []);
  return {
    solver: `liblinear-train -s ${option}`,
    model,
    seconds: run.seconds,
    loadSeconds: load.seconds,
    accuracy: accuracy(predict(model, test), test),
    objective: totalObjective(model, train),
    iterations: summarize(iterations.map(Number), run.output.includes('WARNING: reaching max number of iterations')),
  };
}

function summarize(iterations: number[], capHit: boolean): string {
  if (iterations.length === 0) return '?';
  return `${Math.min(...iterations)}..${Math.max(...iterations)}${capHit ? ' (cap hit)' : ''}`;
}

function describe(set: FeatureSet, path: string): string {
  const { backbone, feature_layer: layer, input_size: inputSize } = set.description;
  return backbone ? `${backbone} ${layer} at ${inputSize}` : path;
}

/** Share of test points two models predict alike, and the largest relative difference of a weight (rows matched by label). */
function closeness(ours: LinearSvmModel, reference: LinearSvmModel, test: FeatureSet): { agreement: number; weights: number } {
  const [a, b] = [predict(ours, test), predict(reference, test)];
  let agree = 0;
  for (let i = 0; i < test.count; i++) if (a[i] === b[i]) agree++;
  const d = ours.dimension;
  let largest = 0;
  ours.biasWeights.forEach((_, row) => {
    const twoClasses = ours.biasWeights.length === 1;
    const other = twoClasses ? 0 : reference.labels.indexOf(ours.labels[row]);
    const sign = twoClasses && reference.labels[0] !== ours.labels[0] ? -1 : 1;
    const pairs: [number, number][] = [[ours.biasWeights[row], sign * reference.biasWeights[other]]];
    for (let j = 0; j < d; j++) pairs.push([ours.weights[row * d + j], sign * reference.weights[other * d + j]]);
    for (const [x, y] of pairs) if (x !== y) largest = Math.max(largest, Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y)));
  });
  return { agreement: agree / test.count, weights: largest };
}

function peakGiB(): number {
  return process.resourceUsage().maxRSS / 2 ** 20;
}

function loadAverage(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}

async function main(): Promise<void> {
  const { train: trainPath, test: testPath, json } = args;
  if (!trainPath || !testPath) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const threads = Number(args.threads);
  const solvers = args.solvers.split(',') as SvmSolver[];
  const rowsKept = Number(args.rows);
  const say = json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  const train = keepRows(loadFeatures(trainPath), rowsKept);
  const test = loadFeatures(testPath);
  let nonzero = 0;
  for (const value of train.features) if (value !== 0) nonzero++;
  const data =
    `${train.count} x ${train.dimension} train, ${test.count} test, ${((100 * nonzero) / train.features.length).toFixed(1)} % nonzero; ` +
    `${describe(train, trainPath)}; ${threads} threads for ours, liblinear-train is single-threaded`;
  say(`data: ${data}`);
  const loadBefore = loadAverage();
  say(`load average before: ${loadBefore}`);

  const directory = mkdtempSync(join(tmpdir(), 'passeurs-bench-svm-'));
  const rows: Row[] = [];
  try {
    const trainFile = join(directory, 'train.txt');
    await writeLibsvmFile(train, trainFile);
    for (const solver of solvers) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      const model = await fitLinearSvm(train, { solver, C: 1, eps: 0, bias: 1 }, { threads });
      const seconds = (performance.now() - start) / 1000;
      const cpu = process.cpuUsage(cpuStart);
      rows.push({
        solver: `ours ${solver}`,
        model,
        seconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        accuracy: accuracy(predict(model, test), test),
        objective: totalObjective(model, train),
        iterations: summarize(
          model.fits.map((fit) => fit.iterations),
          model.fits.some((fit) => !fit.converged),
        ),
      });
      say(`  ours ${solver}: ${seconds.toFixed(1)} s, CPU ${rows[rows.length - 1].cpuSeconds!.toFixed(1)} s (peak resident memory so far ${peakGiB().toFixed(2)} GiB)`);
      rows.push(runLiblinear(solver, trainFile, directory, train, test));
      const reference = rows[rows.length - 1];
      say(`  ${reference.solver}: ${reference.seconds.toFixed(1)} s (load ${reference.loadSeconds!.toFixed(1)} s)`);
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  const loadAfter = loadAverage();
  say(`load average after: ${loadAfter}`);

  const pairs = [];
  for (let k = 0; k < rows.length; k += 2) {
    const [ours, reference] = [rows[k], rows[k + 1]];
    pairs.push({ ours, reference, solveOnly: reference.seconds - reference.loadSeconds!, ...closeness(ours.model, reference.model, test) });
  }
  if (json) {
    const speedups = Object.fromEntries(
      pairs.map(({ ours, reference, solveOnly }) => [`speedup_${ours.solver.replace('ours ', '').replace('-', '_')}_vs_s${reference.solver.slice(-1)}`, solveOnly / ours.seconds]),
    );
    const record = (row: Row) => ({
      solver: row.solver,
      seconds: row.seconds,
      ...(row.cpuSeconds === undefined ? {} : { cpu_seconds: row.cpuSeconds }),
      ...(row.loadSeconds === undefined ? {} : { load_seconds: row.loadSeconds, seconds_without_load: row.seconds - row.loadSeconds }),
      accuracy: row.accuracy,
      objective: row.objective,
      iterations: row.iterations,
    });
    const output = {
      data,
      load_average_before: loadBefore,
      load_average_after: loadAfter,
      peak_resident_memory_gib: peakGiB(),
      ...speedups,
      pairs: pairs.map(({ ours, reference, agreement, weights }) => ({ ours: record(ours), liblinear: record(reference), same_predictions: agreement, largest_weight_difference: weights })),
    };
    console.log(JSON.stringify(output, null, 2));
    return;
  }
  console.log('\n| solver | seconds | liblinear / ours | accuracy | objective (sum over classes) | iterations per class | same predictions | largest weight difference |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const { ours, reference, solveOnly, agreement, weights } of pairs) {
    console.log(
      `| ${ours.solver} | ${ours.seconds.toFixed(1)} (CPU ${ours.cpuSeconds!.toFixed(1)}) | | ${(100 * ours.accuracy).toFixed(2)} % | ${ours.objective.toFixed(3)} | ${ours.iterations} | ` +
        `${(100 * agreement).toFixed(2)} % | ${weights.toExponential(1)} |`,
    );
    console.log(
      `| ${reference.solver} | ${reference.seconds.toFixed(1)} (${solveOnly.toFixed(1)} without load) | ` +
        `${(reference.seconds / ours.seconds).toFixed(2)} (${(solveOnly / ours.seconds).toFixed(2)}) | ` +
        `${(100 * reference.accuracy).toFixed(2)} % | ${reference.objective.toFixed(3)} | ${reference.iterations} | | |`,
    );
  }
}

await main();
