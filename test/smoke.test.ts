// configs/smoke.yaml end to end through the CLI, on 100 real CIFAR-10 images per class with the
// real MobileNet weights: the attack must raise the fair model's test accuracy toward the desired
// model and lower it away from it, at every plain step and for the sign and difference methods
// at a budget; every method must run in both directions; a second run must compute nothing.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPipeline } from '../pipeline/config.js';
import { Workspace } from '../pipeline/workspace.js';
import { stages } from '../stages/index.js';

interface ReportRows {
  baseline: { test_accuracy: number };
  desired: { test_accuracy: number };
  rows: { direction: 'toward' | 'away'; k: number; test_accuracy: number | null; gain_points: number | null }[];
}

const overrides = [`mirror=${process.env.PASSEURS_TEST_CIFAR}`];
const cli = (args: string[], cacheDir: string) =>
  execFileSync(process.execPath, ['dist/pipeline/cli.js', ...args, '--cache-dir', cacheDir, ...overrides.flatMap((value) => ['--set', value])], {
    encoding: 'utf8',
    timeout: 600_000,
  });

/** Stage instances in the smoke study. */
const instanceCount = loadPipeline('configs/smoke.yaml', stages, overrides).instances.length;

describe('configs/smoke.yaml', () => {
  let cacheDir: string;
  let firstRun: string;

  beforeAll(() => {
    cacheDir = mkdtempSync(join(tmpdir(), 'passeurs-smoke-'));
    firstRun = cli(['run', 'configs/smoke.yaml'], cacheDir);
  }, 600_000);
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('runs every stage once, but for one that reuses the result of an instance with its key', () => {
    // The first gradient's signs at the clean images (signs@direction=...,k=1) have one key for both directions.
    expect(firstRun).toMatch(new RegExp(`run 1 succeeded: ${instanceCount - 1} ran, 1 cached, 0 failed`));
  });

  it('steers the fair model toward the desired one, and away from it in the opposite direction', () => {
    const report = JSON.parse(cli(['report', 'configs/smoke.yaml', '--format', 'json'], cacheDir)) as ReportRows;
    const steps = report.rows.filter((row) => row.k > 0);
    expect(steps).toHaveLength(6);
    for (const row of steps) {
      if (row.direction === 'toward') {
        expect(row.gain_points, `toward k=${row.k}`).toBeGreaterThan(0);
        expect(row.test_accuracy!).toBeLessThanOrEqual(report.desired.test_accuracy);
      } else {
        expect(row.gain_points, `away k=${row.k}`).toBeLessThan(0);
      }
    }
  });

  it('runs every attack method in both directions; sign and difference steer toward the desired model and away from it', async () => {
    const workspace = Workspace.open({ config: 'configs/smoke.yaml', stages, cacheDir, overrides });
    try {
      const metrics = workspace.metrics();
      const baseline = metrics.get('baseline')!.get('metrics')!;
      expect(baseline.angle_to_desired_deg).toBeGreaterThan(0);
      // The fair model lies in its own plane of desired and fair weights.
      expect(baseline.off_plane_share).toBeLessThan(1e-9);
      expect(baseline.in_plane_accuracy).toBe(baseline.accuracy);
      for (const method of ['sign', 'difference', 'rotation']) {
        for (const direction of ['toward', 'away']) {
          const name = `method=${method},budget=2,direction=${direction}`;
          const stats = metrics.get(`attack@${name}`)!.get('stats')!;
          expect(stats).toMatchObject({ method, direction, budget: 2, step: 1 });
          expect(stats.max_abs_change_from_original).toBeLessThanOrEqual(2);
          expect(stats.desired_accuracy).toBeGreaterThanOrEqual(0);
          const images = await workspace.load<'table'>(`attack@${name}`, 'images');
          expect(Object.fromEntries(['method', 'direction', 'budget', 'step'].map((key) => [key, images.schema.metadata.get(key)]))).toEqual({ method, direction, budget: '2', step: '1' });
          const evaluation = metrics.get(`attack_eval@${name}`)!.get('metrics')!;
          const gain = (evaluation.accuracy as number) - (baseline.accuracy as number);
          console.log(`${method} ${direction}: gain ${(100 * gain).toFixed(1)} points, angle to desired ${(baseline.angle_to_desired_deg as number).toFixed(1)} -> ${(evaluation.angle_to_desired_deg as number).toFixed(1)} deg, desired head on the perturbed images: loss ${(stats.desired_loss as number).toFixed(3)}, accuracy ${(100 * (stats.desired_accuracy as number)).toFixed(1)} %`);
          expect(evaluation.off_plane_share).toBeGreaterThan(0);
          expect(evaluation.off_plane_share).toBeLessThan(1);
          expect(evaluation.in_plane_accuracy).toBeGreaterThanOrEqual(0);
          if (method === 'rotation') continue;
          if (direction === 'toward') {
            expect(gain, name).toBeGreaterThan(0);
            expect(evaluation.angle_to_desired_deg).toBeLessThan(baseline.angle_to_desired_deg as number);
          } else {
            expect(gain, name).toBeLessThan(0);
          }
        }
      }
    } finally {
      workspace.close();
    }
  });

  it('computes nothing on a second run', () => {
    expect(cli(['run', 'configs/smoke.yaml'], cacheDir)).toMatch(new RegExp(`0 ran, ${instanceCount} cached`));
  });

  it('never uses damaged bytes: a damaged features file is found, recomputed first, and the report is the clean one', () => {
    const outputsOf = (instance: string) => (JSON.parse(cli(['show', instance, 'configs/smoke.yaml', '--json'], cacheDir)) as { outputs: { output: string; path: string; sha256: string }[] }).outputs;
    const cleanReport = outputsOf('report').map((output) => output.sha256);
    const damageTestFeatures = () => {
      const { path } = outputsOf('features@split=test')[0]!;
      chmodSync(path, 0o644);
      const bytes = readFileSync(path);
      bytes.writeUInt32LE(0xefbeadde, Math.min(6_000_000, bytes.length - 8));
      writeFileSync(path, bytes);
    };
    damageTestFeatures();
    // The forced reference reads the damaged features: they are recomputed first (2 ran), not used.
    expect(cli(['run', 'configs/smoke.yaml', '--force', 'reference'], cacheDir)).toMatch(new RegExp(`2 ran, ${instanceCount - 1} cached, 0 failed`));
    expect(outputsOf('report').map((output) => output.sha256)).toEqual(cleanReport);
    damageTestFeatures();
    rmSync(outputsOf('reference').find((output) => output.output === 'desired')!.path);
    cli(['run', 'configs/smoke.yaml'], cacheDir);
    expect(outputsOf('report').map((output) => output.sha256)).toEqual(cleanReport);
    expect(execFileSync(process.execPath, ['dist/pipeline/cli.js', 'verify', '--cache-dir', cacheDir], { encoding: 'utf8' })).toMatch(/all intact/);
  });

  it('is the same DAG as configs/cifar.yaml, on fewer images', () => {
    const smoke = parse(readFileSync('configs/smoke.yaml', 'utf8'));
    const full = parse(readFileSync('configs/cifar.yaml', 'utf8'));
    // But for the first gradient of the attack rows: `rotation`, which the smoke run adds, has no
    // shared first gradient (gradient-signs takes 'sign' and 'difference'), so there each attack row computes its own.
    type Declaration = { name: string; inputs?: Record<string, unknown> };
    const withoutSharedAttackSigns = (full.stages as Declaration[])
      .filter((stage) => stage.name !== 'attack_signs')
      .map((stage) => (stage.name === 'attack' ? { ...stage, inputs: Object.fromEntries(Object.entries(stage.inputs!).filter(([name]) => name !== 'first_signs')) } : stage));
    expect(withoutSharedAttackSigns).toHaveLength((full.stages as Declaration[]).length - 1);
    expect(smoke.stages).toEqual(withoutSharedAttackSigns);
    // The smoke run covers every attack method at one budget in both directions, the full run the best at three.
    const attackParams = ['attack_methods', 'attack_budgets', 'attack_directions', 'weighted_directions'];
    expect({ ...smoke.params, subset: 0, ...Object.fromEntries(attackParams.map((name) => [name, full.params[name]])) }).toEqual(full.params);
  });
});
