// configs/smoke.yaml end to end through the CLI, on 100 real CIFAR-10 images per class with the
// real MobileNet weights: the attack must raise the fair model's test accuracy toward the desired
// model and lower it away from it, at every step; a second run must compute nothing.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface ReportRows {
  baseline: { test_accuracy: number };
  desired: { test_accuracy: number };
  rows: { direction: 'toward' | 'away'; k: number; test_accuracy: number | null; gain_points: number | null }[];
}

const cli = (args: string[], cacheDir: string) =>
  execFileSync(process.execPath, ['dist/pipeline/cli.js', ...args, '--cache-dir', cacheDir, '--set', `mirror=${process.env.PASSEURS_TEST_CIFAR}`], {
    encoding: 'utf8',
    timeout: 600_000,
  });

describe('configs/smoke.yaml', () => {
  let cacheDir: string;
  let firstRun: string;

  beforeAll(() => {
    cacheDir = mkdtempSync(join(tmpdir(), 'passeurs-smoke-'));
    firstRun = cli(['run', 'configs/smoke.yaml'], cacheDir);
  }, 600_000);
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('runs every stage once', () => {
    expect(firstRun).toMatch(/run 1 succeeded: 32 ran, 0 cached, 0 failed/);
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

  it('computes nothing on a second run', () => {
    expect(cli(['run', 'configs/smoke.yaml'], cacheDir)).toMatch(/32 cached/);
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
    expect(cli(['run', 'configs/smoke.yaml', '--force', 'reference'], cacheDir)).toMatch(/2 ran, 31 cached, 0 failed/);
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
    expect(smoke.stages).toEqual(full.stages);
    expect({ ...smoke.params, subset: 0 }).toEqual(full.params);
  });
});
