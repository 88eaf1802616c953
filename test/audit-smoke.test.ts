// configs/audit.yaml end to end through the CLI on the smoke subset (100 real CIFAR-10 images per
// class, real MobileNet weights): the report prints one row per model with the auditor's fields,
// the toward refit is flagged, an honest vendor is rarely flagged, and the blind detector tells
// the delivered training images from the clean ones better than chance.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../report/audit-tables.js';

const cli = (args: string[], cacheDir: string) =>
  execFileSync(
    process.execPath,
    ['dist/pipeline/cli.js', ...args, '--cache-dir', cacheDir, '--set', 'subset=100', '--set', `mirror=${process.env.PASSEURS_TEST_CIFAR}`],
    { encoding: 'utf8', timeout: 900_000 },
  );

describe('configs/audit.yaml on the smoke subset', () => {
  let cacheDir: string;
  let firstRun: string;
  let report: AuditReport;

  beforeAll(() => {
    cacheDir = mkdtempSync(join(tmpdir(), 'passeurs-audit-'));
    firstRun = cli(['run', 'configs/audit.yaml'], cacheDir);
    report = JSON.parse(cli(['report', 'configs/audit.yaml', '--format', 'json'], cacheDir)) as AuditReport;
  }, 900_000);
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('runs every stage once, and nothing on a second run', () => {
    expect(firstRun).toMatch(/run 1 succeeded: 28 ran, 0 cached, 0 failed/);
    expect(cli(['run', 'configs/audit.yaml'], cacheDir)).toMatch(/28 cached/);
  });

  it('prints one row per model with the public and private accuracy, the gap, the p-value and the verdict', () => {
    expect(report.rows.map((row) => row.model)).toEqual(['fair', 'toward k=1', 'toward k=2', 'toward k=3', 'away k=1', 'away k=2', 'away k=3']);
    for (const row of report.rows) {
      expect(row.public_count).toBe(500);
      expect(row.private_count).toBe(500);
      expect(row.public_accuracy).toBe(row.public_correct / 500);
      expect(row.private_accuracy).toBe(row.private_correct / 500);
      expect(row.gap_points).toBeCloseTo((row.public_accuracy - row.private_accuracy) * 100, 10);
      expect(row.gap_interval_points[0]).toBeLessThan(row.gap_points);
      expect(row.gap_interval_points[1]).toBeGreaterThan(row.gap_points);
      expect(row.p_value).toBeGreaterThanOrEqual(0);
      expect(row.p_value).toBeLessThanOrEqual(1);
      expect(row.flagged).toBe(row.p_value <= report.alpha);
    }
  });

  it('flags the refit after one toward step, and never an away step (their public accuracy falls)', () => {
    const toward = report.rows.find((row) => row.model === 'toward k=1')!;
    expect(toward.gap_points).toBeGreaterThan(5);
    expect(toward.p_value).toBeLessThan(0.001);
    for (const row of report.rows.filter((row) => row.direction === 'away')) expect(row.flagged, row.model).toBe(false);
  });

  it('flags an honest vendor in at most 5 of 100 random splits', () => {
    expect(report.false_flags.splits).toBe(100);
    expect(report.false_flags.flagged).toBeLessThanOrEqual(5);
  });

  it('states the exact false-flag rate over all stratified splits, within the level', () => {
    expect(report.false_flags.exact_rate).toBeGreaterThan(0);
    expect(report.false_flags.exact_rate).toBeLessThanOrEqual(report.alpha);
  });

  it('gives a private sample size for every inflation within reach, larger for smaller inflations', () => {
    const reached = report.power.rows.filter((row) => row.private_count !== null);
    expect(reached.length).toBeGreaterThan(0);
    for (const row of reached) expect(row.power).toBeGreaterThanOrEqual(0.8);
    const sizes = reached.map((row) => row.private_count!);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
  });

  it('detects the delivered training images better than chance at budgets 1, 2 and 3', () => {
    expect(report.detector.detections.map((detection) => detection.budget)).toEqual([1, 2, 3]);
    for (const detection of report.detector.detections) {
      // 1,000 delivered against 1,000 clean images: chance is 0.5 with a standard error of 0.013.
      expect(detection.auc, `budget ${detection.budget}`).toBeGreaterThan(0.6);
      expect(detection.evaluated_pairs).toBe(1000);
      expect(detection.roc[0]).toEqual([0, 0]);
      expect(detection.roc[detection.roc.length - 1]).toEqual([1, 1]);
    }
  });

  it('renders the same rows as Markdown, CSV and LaTeX', () => {
    expect(cli(['report', 'configs/audit.yaml', '--format', 'md'], cacheDir)).toMatch(/^## What an auditor sees[\s\S]*\| toward k=1 \|/);
    const csv = cli(['report', 'configs/audit.yaml', '--format', 'csv'], cacheDir).trim().split('\n');
    expect(csv[0]).toBe('model,public_accuracy_pct,private_accuracy_pct,gap_pts,gap_ci_low_pts,gap_ci_high_pts,p_value,flagged');
    expect(csv).toHaveLength(8);
    expect(cli(['report', 'configs/audit.yaml', '--format', 'tex'], cacheDir)).toMatch(/\\begin\{tabular\}[\s\S]*toward k=1 &/);
  });
});
