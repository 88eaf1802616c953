// The run history (SQLite, in the cache directory): runs, stage executions, results and metrics.
//
// `results` is the engine's memory: a key has a row only once all its outputs were renamed into
// the store, so a row means "these artifacts are complete". Executions record what each run did.
// The schema, its version and its migrations: docs/history.md.

import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { CacheError } from '../cache/store.js';
import type { ArtifactKind, Metrics } from './stage.js';
import type { InputHashes } from './hashing.js';
import type { StatCache, StatRecord } from './outside.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';
export type ExecutionStatus = 'running' | 'succeeded' | 'cached' | 'failed' | 'skipped' | 'interrupted';

export interface StoredOutput {
  readonly output: string;
  readonly kind: ArtifactKind;
  readonly hash: string;
  readonly extension: string;
  readonly size: number;
}

export interface RunStart {
  /** The config file (normalized by `configIdentity`). */
  readonly config: string;
  /** Its `--set` overrides, in command-line order. */
  readonly overrides: readonly string[];
  readonly command: string;
}

export interface RunRecord {
  readonly id: number;
  readonly config: string;
  readonly overrides: readonly string[];
  readonly command: string;
  readonly gitCommit: string | null;
  /** Whether tracked files differed from the commit; null when not in a git work tree. */
  readonly gitDirty: boolean | null;
  readonly startedAtMs: number;
  readonly finishedAtMs: number | null;
  readonly status: RunStatus;
  readonly executed: number;
  readonly cached: number;
  /** Executions that failed or were interrupted. */
  readonly failed: number;
  readonly skipped: number;
}

export interface ExecutionStart {
  readonly runId: number;
  readonly instance: string;
  readonly stageType: string;
  readonly stageVersion: number;
  readonly key: string | null;
  readonly params: Record<string, unknown>;
  readonly inputs: InputHashes;
}

export interface ExecutionRecord extends ExecutionStart {
  readonly id: number;
  readonly status: ExecutionStatus;
  readonly cacheHit: boolean;
  readonly startedAtMs: number;
  readonly finishedAtMs: number | null;
  readonly durationMs: number | null;
  readonly error: string | null;
}

/**
 * Schema migrations: MIGRATIONS[n] takes a database from version n to n + 1 (`PRAGMA user_version`).
 * Version 0 is an empty file or a cache written before versions were kept: the first migration
 * creates the original tables only where they are missing, so both reach version 1 the same way.
 */
const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  config TEXT NOT NULL,
  command TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  instance TEXT NOT NULL,
  stage_type TEXT NOT NULL,
  stage_version INTEGER NOT NULL,
  key TEXT,
  params TEXT NOT NULL,
  inputs TEXT NOT NULL,
  status TEXT NOT NULL,
  cache_hit INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  duration_ms INTEGER,
  error TEXT
);
CREATE INDEX IF NOT EXISTS executions_by_run ON executions(run_id);
CREATE INDEX IF NOT EXISTS executions_by_instance ON executions(instance, id);
CREATE TABLE IF NOT EXISTS results (
  key TEXT PRIMARY KEY,
  run_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS result_outputs (
  key TEXT NOT NULL REFERENCES results(key) ON DELETE CASCADE,
  output TEXT NOT NULL,
  kind TEXT NOT NULL,
  hash TEXT NOT NULL,
  extension TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (key, output)
);
CREATE INDEX IF NOT EXISTS result_outputs_by_hash ON result_outputs(hash);
CREATE TABLE IF NOT EXISTS pending_objects (
  hash TEXT NOT NULL,
  extension TEXT NOT NULL,
  PRIMARY KEY (hash, extension)
);
CREATE TABLE IF NOT EXISTS metrics (
  key TEXT NOT NULL REFERENCES results(key) ON DELETE CASCADE,
  output TEXT NOT NULL,
  name TEXT NOT NULL,
  value_number REAL,
  value_text TEXT,
  PRIMARY KEY (key, output, name)
);
`,
  // 1 -> 2: time columns name their unit; runs record their overrides and the project's git
  // commit; run_metrics links every metric to the run, instance and params that used it.
  `
ALTER TABLE runs RENAME COLUMN started_at TO started_at_ms;
ALTER TABLE runs RENAME COLUMN finished_at TO finished_at_ms;
ALTER TABLE runs ADD COLUMN overrides TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN git_commit TEXT;
ALTER TABLE runs ADD COLUMN git_dirty INTEGER;
ALTER TABLE executions RENAME COLUMN started_at TO started_at_ms;
ALTER TABLE executions RENAME COLUMN finished_at TO finished_at_ms;
ALTER TABLE results RENAME COLUMN created_at TO created_at_ms;
CREATE INDEX executions_by_key ON executions(key);
CREATE VIEW run_metrics AS
  SELECT e.run_id, r.config, e.instance, e.stage_type, e.stage_version, e.params, e.key,
         m.output, m.name, m.value_number, m.value_text, e.cache_hit
  FROM executions e
  JOIN runs r ON r.id = e.run_id
  JOIN metrics m ON m.key = e.key
  WHERE e.status IN ('succeeded', 'cached');
`,
  // 2 -> 3: the stat cache of outside files (path, stat -> sha256), and what runs repaired.
  `
CREATE TABLE IF NOT EXISTS outside_files (
  path TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  mtime_ns TEXT NOT NULL,
  ctime_ns TEXT NOT NULL,
  inode TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  at_ms INTEGER NOT NULL,
  instance TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL
);
`,
];

/** The schema version this code reads and writes. */
export const HISTORY_SCHEMA_VERSION = MIGRATIONS.length;

/** The history database was written by a newer version of the pipeline. */
export class HistorySchemaError extends Error {}

/** How a config file is recorded and matched across runs: relative to the current directory when inside it, else absolute. */
export function configIdentity(file: string): string {
  const absolute = resolve(file);
  const relativePath = relative(process.cwd(), absolute);
  return relativePath === '' || relativePath.startsWith('..') || isAbsolute(relativePath) ? absolute : relativePath.split(sep).join('/');
}

interface ExecutionRow {
  id: number;
  run_id: number;
  instance: string;
  stage_type: string;
  stage_version: number;
  key: string | null;
  params: string;
  inputs: string;
  status: ExecutionStatus;
  cache_hit: number;
  started_at_ms: number;
  finished_at_ms: number | null;
  duration_ms: number | null;
  error: string | null;
}

function toExecution(row: ExecutionRow): ExecutionRecord {
  return {
    id: row.id,
    runId: row.run_id,
    instance: row.instance,
    stageType: row.stage_type,
    stageVersion: row.stage_version,
    key: row.key,
    params: JSON.parse(row.params) as Record<string, unknown>,
    inputs: JSON.parse(row.inputs) as InputHashes,
    status: row.status,
    cacheHit: row.cache_hit === 1,
    startedAtMs: row.started_at_ms,
    finishedAtMs: row.finished_at_ms,
    durationMs: row.duration_ms,
    error: row.error,
  };
}

interface RunRow {
  id: number;
  config: string;
  overrides: string;
  command: string;
  git_commit: string | null;
  git_dirty: number | null;
  started_at_ms: number;
  finished_at_ms: number | null;
  status: RunStatus;
  executed: number;
  cached: number;
  failed: number;
  skipped: number;
}

function toRun(row: RunRow): RunRecord {
  return {
    id: row.id,
    config: row.config,
    overrides: JSON.parse(row.overrides) as string[],
    command: row.command,
    gitCommit: row.git_commit,
    gitDirty: row.git_dirty === null ? null : row.git_dirty === 1,
    startedAtMs: row.started_at_ms,
    finishedAtMs: row.finished_at_ms,
    status: row.status,
    executed: row.executed,
    cached: row.cached,
    failed: row.failed,
    skipped: row.skipped,
  };
}

const RUN_SELECT = `SELECT r.*,
  (SELECT COUNT(*) FROM executions e WHERE e.run_id = r.id AND e.status = 'succeeded') AS executed,
  (SELECT COUNT(*) FROM executions e WHERE e.run_id = r.id AND e.status = 'cached') AS cached,
  (SELECT COUNT(*) FROM executions e WHERE e.run_id = r.id AND e.status IN ('failed', 'interrupted')) AS failed,
  (SELECT COUNT(*) FROM executions e WHERE e.run_id = r.id AND e.status = 'skipped') AS skipped
FROM runs r`;

export class History {
  private readonly db: Database.Database;
  private readonly outputsByKey: Database.Statement<[string], StoredOutput>;

  /**
   * Opens (or creates) the history in `file`; without a file, an empty history in memory (for
   * reading a cache that does not exist, without creating it). A damaged file throws CacheError.
   */
  constructor(private readonly file?: string) {
    if (file !== undefined && statSync(file, { throwIfNoEntry: false })?.isFile() === false) throw this.damaged('is not a file, so it cannot hold the run history');
    this.db = new Database(file ?? ':memory:', { timeout: 10_000 });
    try {
      // The first read of the file. SQLite refuses here a file that is not a database, or one
      // shorter than its header says (truncated): it fails now, with its name, not in the middle
      // of a run. Damage inside a page shows when the page is read (see `explainDamage`), and
      // `checkIntegrity` reads every page.
      this.db.pragma('journal_mode = WAL');
      // WAL with NORMAL sync cannot corrupt the database on a crash; at worst the last commits are lost
      // on power failure, and a lost result row only makes a stage recompute.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.migrate(file ?? ':memory:');
    } catch (error) {
      this.db.close();
      throw this.explainDamage(error);
    }
    this.outputsByKey = this.db.prepare(
      'SELECT o.output, o.kind, o.hash, o.extension, o.size FROM result_outputs o JOIN results r ON r.key = o.key WHERE o.key = ? ORDER BY o.output',
    );
  }

  private damaged(problem: string): CacheError {
    return new CacheError(this.file!, problem, 'run `pipeline verify --reset-history`: it sets this file aside and starts a fresh history (artifacts are kept; results are recomputed)');
  }

  /** SQLite's error for a damaged file, as the CacheError that names the file and the fix; any other error as it is. */
  explainDamage(error: unknown): unknown {
    const code = (error as { code?: string }).code;
    return this.file !== undefined && (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') ? this.damaged(`is damaged (${(error as Error).message})`) : error;
  }

  /**
   * Reads every page and checks the structure (`PRAGMA quick_check`), for `pipeline verify`. Not
   * done on every open: it reads the whole file, whose size grows with every run recorded.
   */
  checkIntegrity(): void {
    let check: unknown;
    try {
      check = this.db.pragma('quick_check(1)', { simple: true });
    } catch (error) {
      throw this.explainDamage(error);
    }
    if (check !== 'ok') throw this.damaged(`is damaged (${String(check).replace(/\s*\n\s*/g, ' ')})`);
  }

  private version(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Brings the database to HISTORY_SCHEMA_VERSION; an immediate transaction keeps two processes from migrating at once. */
  private migrate(path: string): void {
    if (this.version() === HISTORY_SCHEMA_VERSION) return;
    this.db
      .transaction(() => {
        const found = this.version();
        if (found > HISTORY_SCHEMA_VERSION) {
          throw new HistorySchemaError(`${path} has history schema version ${found}, newer than this pipeline's ${HISTORY_SCHEMA_VERSION}; update passeurs, or use another --cache-dir`);
        }
        for (let version = found; version < HISTORY_SCHEMA_VERSION; version++) this.db.exec(MIGRATIONS[version]!);
        this.db.pragma(`user_version = ${HISTORY_SCHEMA_VERSION}`);
      })
      .immediate();
  }

  close(): void {
    this.db.close();
  }

  transaction<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  // ------------------------------------------------------------------ runs

  startRun(start: RunStart): number {
    const info = this.db
      .prepare("INSERT INTO runs (config, overrides, command, started_at_ms, status) VALUES (?, ?, ?, ?, 'running')")
      .run(configIdentity(start.config), JSON.stringify(start.overrides), start.command, Date.now());
    return Number(info.lastInsertRowid);
  }

  /** The project's git commit for a run, and whether tracked files differed from it. */
  recordCommit(runId: number, git: { readonly commit: string; readonly dirty: boolean }): void {
    this.db.prepare('UPDATE runs SET git_commit = ?, git_dirty = ? WHERE id = ?').run(git.commit, git.dirty ? 1 : 0, runId);
  }

  finishRun(runId: number, status: RunStatus): void {
    this.db.prepare('UPDATE runs SET status = ?, finished_at_ms = ? WHERE id = ?').run(status, Date.now(), runId);
  }

  /** Marks runs and executions left `running` by a killed process. Call only while holding the cache lock. */
  markAbandonedAsInterrupted(): void {
    this.transaction(() => {
      // Through the runs left running (index executions_by_run): a scan of all executions would
      // read the whole table, which grows with every run.
      this.db
        .prepare("UPDATE executions SET status = 'interrupted', error = 'the run was killed' WHERE status = 'running' AND run_id IN (SELECT id FROM runs WHERE status = 'running')")
        .run();
      this.db.prepare("UPDATE runs SET status = 'interrupted' WHERE status = 'running'").run();
    });
  }

  /** The latest runs, newest first. */
  runs(limit: number): RunRecord[] {
    return (this.db.prepare(`${RUN_SELECT} ORDER BY r.id DESC LIMIT ?`).all(limit) as RunRow[]).map(toRun);
  }

  run(runId: number): RunRecord | undefined {
    const row = this.db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(runId) as RunRow | undefined;
    return row && toRun(row);
  }

  // ------------------------------------------------------------ executions

  startExecution(start: ExecutionStart, status: 'running' | 'cached' | 'skipped', error?: string): number {
    const now = Date.now();
    const finished = status === 'running' ? null : now;
    const info = this.db
      .prepare(
        `INSERT INTO executions (run_id, instance, stage_type, stage_version, key, params, inputs, status, cache_hit, started_at_ms, finished_at_ms, duration_ms, error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        start.runId,
        start.instance,
        start.stageType,
        start.stageVersion,
        start.key,
        JSON.stringify(start.params),
        JSON.stringify(start.inputs),
        status,
        status === 'cached' ? 1 : 0,
        now,
        finished,
        finished === null ? null : 0,
        error ?? null,
      );
    return Number(info.lastInsertRowid);
  }

  finishExecution(executionId: number, status: 'succeeded' | 'failed' | 'interrupted', error?: string): void {
    const now = Date.now();
    this.db
      .prepare('UPDATE executions SET status = ?, finished_at_ms = ?, duration_ms = ? - started_at_ms, error = ? WHERE id = ?')
      .run(status, now, now, error ?? null, executionId);
  }

  executionsOf(runId: number): ExecutionRecord[] {
    return (this.db.prepare('SELECT * FROM executions WHERE run_id = ? ORDER BY id').all(runId) as ExecutionRow[]).map(toExecution);
  }

  /** The latest execution of an instance of this config file that produced or reused a result. */
  lastSuccessfulExecution(config: string, instance: string): ExecutionRecord | undefined {
    const row = this.db
      .prepare(
        "SELECT e.* FROM executions e JOIN runs r ON r.id = e.run_id WHERE e.instance = ? AND r.config = ? AND e.status IN ('succeeded', 'cached') ORDER BY e.id DESC LIMIT 1",
      )
      .get(instance, configIdentity(config)) as ExecutionRow | undefined;
    return row && toExecution(row);
  }

  // --------------------------------------------------------------- results

  /** The outputs recorded for a key, or undefined when no complete result exists. */
  resultOutputs(key: string): StoredOutput[] | undefined {
    const outputs = this.outputsByKey.all(key);
    return outputs.length > 0 ? outputs : undefined;
  }

  /** Notes an object about to be renamed into the store, until a result records it. */
  notePendingObject(object: { hash: string; extension: string }): void {
    this.db.prepare('INSERT OR IGNORE INTO pending_objects (hash, extension) VALUES (?, ?)').run(object.hash, object.extension);
  }

  /**
   * Objects noted as pending by runs that died before recording them, and not used by any result;
   * forgets all pending notes. Call only while holding the cache lock.
   */
  takeAbandonedObjects(): { hash: string; extension: string }[] {
    return this.transaction(() => {
      const abandoned = this.db
        .prepare('SELECT p.hash, p.extension FROM pending_objects p WHERE NOT EXISTS (SELECT 1 FROM result_outputs o WHERE o.hash = p.hash AND o.extension = p.extension)')
        .all() as { hash: string; extension: string }[];
      this.db.prepare('DELETE FROM pending_objects').run();
      return abandoned;
    });
  }

  /** Records a complete result. Call once every artifact is in the store. */
  recordResult(key: string, runId: number, outputs: readonly StoredOutput[], metrics: ReadonlyMap<string, Metrics>): void {
    this.deleteResult(key);
    this.db.prepare('INSERT INTO results (key, run_id, created_at_ms) VALUES (?, ?, ?)').run(key, runId, Date.now());
    const settle = this.db.prepare('DELETE FROM pending_objects WHERE hash = ? AND extension = ?');
    for (const output of outputs) settle.run(output.hash, output.extension);
    const insertOutput = this.db.prepare('INSERT INTO result_outputs (key, output, kind, hash, extension, size) VALUES (?, ?, ?, ?, ?, ?)');
    for (const output of outputs) insertOutput.run(key, output.output, output.kind, output.hash, output.extension, output.size);
    const insertMetric = this.db.prepare('INSERT INTO metrics (key, output, name, value_number, value_text) VALUES (?, ?, ?, ?, ?)');
    for (const [output, entries] of metrics) {
      for (const [name, value] of Object.entries(entries)) {
        insertMetric.run(key, output, name, typeof value === 'number' ? value : null, typeof value === 'string' ? value : null);
      }
    }
  }

  /** Something a run noticed and repaired (a damaged input artifact, say). */
  recordEvent(runId: number, instance: string, kind: string, detail: string): void {
    this.db.prepare('INSERT INTO events (run_id, at_ms, instance, kind, detail) VALUES (?, ?, ?, ?, ?)').run(runId, Date.now(), instance, kind, detail);
  }

  eventsOf(runId: number): { instance: string; kind: string; detail: string }[] {
    return this.db.prepare('SELECT instance, kind, detail FROM events WHERE run_id = ? ORDER BY id').all(runId) as { instance: string; kind: string; detail: string }[];
  }

  /** The hashes of outside files, by path and stat, so that unchanged files are not read again. */
  statCache(): StatCache {
    const lookup = this.db.prepare('SELECT size, mtime_ns AS mtimeNs, ctime_ns AS ctimeNs, inode, hash FROM outside_files WHERE path = ?');
    const remember = this.db.prepare('INSERT OR REPLACE INTO outside_files (path, size, mtime_ns, ctime_ns, inode, hash) VALUES (?, ?, ?, ?, ?, ?)');
    return {
      lookup: (path) => lookup.get(path) as StatRecord | undefined,
      remember: (path, record) => {
        remember.run(path, record.size, record.mtimeNs, record.ctimeNs, record.inode, record.hash);
      },
    };
  }

  deleteResult(key: string): void {
    this.db.prepare('DELETE FROM results WHERE key = ?').run(key);
  }

  allResultOutputs(): (StoredOutput & { key: string })[] {
    return this.db.prepare('SELECT key, output, kind, hash, extension, size FROM result_outputs ORDER BY key, output').all() as (StoredOutput & {
      key: string;
    })[];
  }

  /** Keys used (computed or reused) by the latest `runCount` runs. */
  keysOfRecentRuns(runCount: number): Set<string> {
    const rows = this.db
      .prepare(
        "SELECT DISTINCT key FROM executions WHERE key IS NOT NULL AND status IN ('succeeded', 'cached') AND run_id IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?)",
      )
      .all(runCount) as { key: string }[];
    return new Set(rows.map((row) => row.key));
  }

  /** Every metric entry of the results a run computed or reused, with the instance that used it (the run_metrics view). */
  runMetrics(runId: number): { instance: string; output: string; name: string; value: number | string }[] {
    const rows = this.db.prepare('SELECT instance, output, name, value_number, value_text FROM run_metrics WHERE run_id = ? ORDER BY instance, output, name').all(runId) as {
      instance: string;
      output: string;
      name: string;
      value_number: number | null;
      value_text: string | null;
    }[];
    return rows.map((row) => ({ instance: row.instance, output: row.output, name: row.name, value: row.value_text ?? row.value_number ?? Number.NaN }));
  }

  metricsOf(key: string): Map<string, Metrics> {
    const rows = this.db.prepare('SELECT output, name, value_number, value_text FROM metrics WHERE key = ? ORDER BY output, name').all(key) as {
      output: string;
      name: string;
      value_number: number | null;
      value_text: string | null;
    }[];
    const metrics = new Map<string, Metrics>();
    for (const row of rows) {
      const entries = metrics.get(row.output) ?? {};
      entries[row.name] = row.value_text ?? row.value_number ?? Number.NaN;
      metrics.set(row.output, entries);
    }
    return metrics;
  }
}
