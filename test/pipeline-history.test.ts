// The history database: its schema version and the migration of caches written before versions
// were kept, what each run records (overrides, git commit), and the run_metrics view.
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../pipeline/cli-app.js';
import { History, HistorySchemaError, HISTORY_SCHEMA_VERSION } from '../pipeline/history.js';
import { Sandbox, temporaryFolder, testStages } from './fixtures/pipeline/helpers.js';

// The schema as the first release wrote it (no user_version, time columns without their unit).
const LEGACY_SCHEMA = `
CREATE TABLE runs (id INTEGER PRIMARY KEY, config TEXT NOT NULL, command TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER, status TEXT NOT NULL);
CREATE TABLE executions (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), instance TEXT NOT NULL, stage_type TEXT NOT NULL,
  stage_version INTEGER NOT NULL, key TEXT, params TEXT NOT NULL, inputs TEXT NOT NULL, status TEXT NOT NULL, cache_hit INTEGER NOT NULL,
  started_at INTEGER NOT NULL, finished_at INTEGER, duration_ms INTEGER, error TEXT);
CREATE INDEX executions_by_run ON executions(run_id);
CREATE INDEX executions_by_instance ON executions(instance, id);
CREATE TABLE results (key TEXT PRIMARY KEY, run_id INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE result_outputs (key TEXT NOT NULL REFERENCES results(key) ON DELETE CASCADE, output TEXT NOT NULL, kind TEXT NOT NULL,
  hash TEXT NOT NULL, extension TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (key, output));
CREATE INDEX result_outputs_by_hash ON result_outputs(hash);
CREATE TABLE pending_objects (hash TEXT NOT NULL, extension TEXT NOT NULL, PRIMARY KEY (hash, extension));
CREATE TABLE metrics (key TEXT NOT NULL REFERENCES results(key) ON DELETE CASCADE, output TEXT NOT NULL, name TEXT NOT NULL,
  value_number REAL, value_text TEXT, PRIMARY KEY (key, output, name));
INSERT INTO runs VALUES (1, 'configs/old.yaml', 'pipeline run configs/old.yaml', 1000, 4000, 'succeeded');
INSERT INTO executions VALUES (1, 1, 'evaluate', 'evaluate', 1, 'k1', '{"C":1}', '{}', 'succeeded', 0, 1500, 3500, 2000, NULL);
INSERT INTO results VALUES ('k1', 1, 3600);
INSERT INTO result_outputs VALUES ('k1', 'metrics', 'metrics', 'h1', 'json', 20);
INSERT INTO metrics VALUES ('k1', 'metrics', 'accuracy', 0.75, NULL);
`;

const folders: ReturnType<typeof temporaryFolder>[] = [];
const boxes: Sandbox[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) folder.remove();
  for (const box of boxes.splice(0)) box.close();
});
function folder(): string {
  const created = temporaryFolder();
  folders.push(created);
  return created.path;
}
const columns = (db: Database.Database, table: string) => (db.pragma(`table_info(${table})`) as { name: string }[]).map((column) => column.name);

describe('history database', () => {
  it('migrates a cache written before schema versions: rows kept, time columns renamed, new columns empty', () => {
    const dir = folder();
    const legacy = new Database(join(dir, 'history.db'));
    legacy.exec(LEGACY_SCHEMA);
    legacy.close();

    const history = new History(join(dir, 'history.db'));
    try {
      expect(history.runs(10)).toEqual([
        {
          id: 1, config: 'configs/old.yaml', overrides: [], command: 'pipeline run configs/old.yaml', gitCommit: null, gitDirty: null,
          startedAtMs: 1000, finishedAtMs: 4000, status: 'succeeded', executed: 1, cached: 0, failed: 0, skipped: 0,
        },
      ]);
      expect(history.lastSuccessfulExecution('configs/old.yaml', 'evaluate')).toMatchObject({ startedAtMs: 1500, finishedAtMs: 3500, durationMs: 2000, params: { C: 1 } });
      expect(history.lastSuccessfulExecution('configs/other.yaml', 'evaluate')).toBeUndefined();
      expect(history.runMetrics(1)).toEqual([{ instance: 'evaluate', output: 'metrics', name: 'accuracy', value: 0.75 }]);
    } finally {
      history.close();
    }
    const db = new Database(join(dir, 'history.db'), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(HISTORY_SCHEMA_VERSION);
    expect(columns(db, 'runs')).toEqual(['id', 'config', 'command', 'started_at_ms', 'finished_at_ms', 'status', 'overrides', 'git_commit', 'git_dirty']);
    expect(columns(db, 'executions')).toContain('started_at_ms');
    expect(columns(db, 'results')).toEqual(['key', 'run_id', 'created_at_ms']);
    db.close();
    // A new cache gets the same tables as a migrated one.
    const freshDir = folder();
    new History(join(freshDir, 'history.db')).close();
    const fresh = new Database(join(freshDir, 'history.db'), { readonly: true });
    for (const table of ['runs', 'executions', 'results', 'result_outputs', 'metrics', 'pending_objects', 'run_metrics', 'outside_files', 'events']) {
      const migrated = new Database(join(dir, 'history.db'), { readonly: true });
      expect(columns(fresh, table)).toEqual(columns(migrated, table));
      migrated.close();
    }
    fresh.close();
  });

  it('refuses a history written by a newer version, with exit 2 and no stack trace', async () => {
    const dir = folder();
    const newer = new Database(join(dir, 'history.db'));
    newer.pragma(`user_version = ${HISTORY_SCHEMA_VERSION + 1}`);
    newer.close();
    expect(() => new History(join(dir, 'history.db'))).toThrow(HistorySchemaError);
    let stderr = '';
    const code = await runCli(['history', '--cache-dir', dir], { stages: testStages, commands: [], stdout: { write: () => true }, stderr: { write: (text: string) => (stderr += text) } });
    expect(code).toBe(2);
    expect(stderr).toBe(`error: ${join(dir, 'history.db')} has history schema version ${HISTORY_SCHEMA_VERSION + 1}, newer than this pipeline's ${HISTORY_SCHEMA_VERSION}; update passeurs, or use another --cache-dir\n`);
  });

  it("records each run's overrides and the project's git commit (none for a run that computed nothing); run_metrics ties a metric to its run and params in one query", async () => {
    const box = new Sandbox(readFileSync(join(import.meta.dirname, 'fixtures/pipeline/diamond.yaml'), 'utf8'));
    boxes.push(box);
    await box.run();
    await box.run({ overrides: ['sum.scale=2'] });
    await box.run({ overrides: ['sum.scale=2'] });
    // The tests normally run inside the project's git work tree; outside one no commit is recorded.
    const head = (() => {
      try {
        return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      } catch {
        return null;
      }
    })();
    expect(box.cache.history.runs(3).map((run) => [run.id, run.overrides, run.executed, run.gitCommit])).toEqual([
      [3, ['sum.scale=2'], 0, null],
      [2, ['sum.scale=2'], 1, head],
      [1, [], 6, head],
    ]);
    const db = new Database(join(box.cache.dir, 'history.db'), { readonly: true });
    const rows = db
      .prepare("SELECT run_id, instance, json_extract(params, '$.scale') AS scale, value_number AS result, cache_hit FROM run_metrics WHERE name = 'result' ORDER BY run_id")
      .all();
    db.close();
    // The diamond's b lists hold 1 11 and 1 11 12: their sum is 36, times scale.
    expect(rows).toEqual([
      { run_id: 1, instance: 'sum', scale: 1, result: 36, cache_hit: 0 },
      { run_id: 2, instance: 'sum', scale: 2, result: 72, cache_hit: 0 },
      { run_id: 3, instance: 'sum', scale: 2, result: 72, cache_hit: 1 },
    ]);
  });
});
