// What a run shows while it works: a live bar per running stage on a terminal, and on a log
// (CI, a file) a line per stage start/end, and a progress line when a stage passes a 10% step
// (at most one per 5 s) or every 30 s.

import type { LockHolder } from '../cache/lock.js';
import { describeHolder } from '../cache/lock.js';

export type StageOutcome = 'succeeded' | 'cached' | 'failed' | 'skipped' | 'interrupted';

export interface RunReporter {
  waitingForLock(cacheDir: string, holder: LockHolder | undefined): void;
  runStarted(runId: number, instanceCount: number): void;
  stageStarted(instance: string): void;
  stageProgress(instance: string, done: number, total: number, unit: string): void;
  stageLog(instance: string, message: string): void;
  stageFinished(instance: string, outcome: StageOutcome, durationMs: number, error?: string): void;
  close(): void;
}

export interface TextSink {
  write(text: string): unknown;
}

interface StageProgress {
  readonly startedAt: number;
  done: number;
  total: number;
  unit: string;
  lastLineAt: number;
  lastDecile: number;
}

const PLAIN_LINE_INTERVAL_MS = 30_000;
/** Short stages print no progress lines at all. */
const PLAIN_MIN_GAP_MS = 5_000;
const LIVE_REDRAW_MS = 100;
const BAR_WIDTH = 24;

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** "40% 400/1000 images 52.1/s ETA 12s": the unit once, after the count it qualifies. */
export function describeProgress(progress: { startedAt: number; done: number; total: number; unit: string }, now: number): string {
  const fraction = progress.total > 0 ? Math.min(1, progress.done / progress.total) : 0;
  const elapsedSeconds = (now - progress.startedAt) / 1000;
  const rate = elapsedSeconds > 0 ? progress.done / elapsedSeconds : 0;
  const eta = rate > 0 ? formatDuration(((progress.total - progress.done) / rate) * 1000) : '?';
  const rateText = rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
  return `${Math.floor(fraction * 100)}% ${progress.done}/${progress.total} ${progress.unit} ${rateText}/s ETA ${eta}`;
}

function outcomeLine(instance: string, outcome: Exclude<StageOutcome, 'cached' | 'skipped'>, durationMs: number, error?: string): string {
  const mark = { succeeded: 'done', failed: 'FAILED', interrupted: 'interrupted' }[outcome];
  return `${mark.padEnd(11)} ${instance} (${formatDuration(durationMs)})${error ? `: ${error}` : ''}`;
}

abstract class BaseReporter implements RunReporter {
  protected readonly running = new Map<string, StageProgress>();

  constructor(
    protected readonly sink: TextSink,
    protected readonly now: () => number,
  ) {}

  protected abstract line(text: string): void;

  waitingForLock(cacheDir: string, holder: LockHolder | undefined): void {
    this.line(`waiting: the cache ${cacheDir} is in use by ${describeHolder(holder)}; this run starts when it finishes (--no-wait exits instead)`);
  }

  runStarted(runId: number, instanceCount: number): void {
    this.line(`run ${runId}: ${instanceCount} stage instance${instanceCount === 1 ? '' : 's'}`);
  }

  stageStarted(instance: string): void {
    const now = this.now();
    this.running.set(instance, { startedAt: now, done: 0, total: 0, unit: '', lastLineAt: now, lastDecile: 0 });
    this.line(`started     ${instance}`);
  }

  stageLog(instance: string, message: string): void {
    this.line(`[${instance}] ${message}`);
  }

  stageFinished(instance: string, outcome: StageOutcome, durationMs: number, error?: string): void {
    this.running.delete(instance);
    // Cache hits are the common case of a rerun, and skips follow from a failure already shown:
    // both are counted in the run's summary, not listed.
    if (outcome !== 'cached' && outcome !== 'skipped') this.line(outcomeLine(instance, outcome, durationMs, error));
  }

  abstract stageProgress(instance: string, done: number, total: number, unit: string): void;
  abstract close(): void;
}

/** For logs: progress only when a stage crosses a 10% step or was silent for 30 s. */
export class PlainReporter extends BaseReporter {
  constructor(sink: TextSink, now: () => number = Date.now) {
    super(sink, now);
  }

  protected line(text: string): void {
    this.sink.write(`${text}\n`);
  }

  stageProgress(instance: string, done: number, total: number, unit: string): void {
    const progress = this.running.get(instance);
    if (!progress) return;
    Object.assign(progress, { done, total, unit });
    const now = this.now();
    const decile = total > 0 ? Math.floor((done / total) * 10) : 0;
    const sinceLastLine = now - progress.lastLineAt;
    if ((decile > progress.lastDecile && sinceLastLine >= PLAIN_MIN_GAP_MS) || sinceLastLine >= PLAIN_LINE_INTERVAL_MS) {
      progress.lastDecile = decile;
      progress.lastLineAt = now;
      this.line(`progress    ${instance} ${describeProgress(progress, now)}`);
    }
  }

  close(): void {}
}

/** For a terminal: permanent lines scroll above a redrawn block of one bar per running stage. */
export class LiveReporter extends BaseReporter {
  private drawnLines = 0;
  private lastDrawAt = 0;
  /** Keeps elapsed times moving for stages that report no progress. */
  private readonly ticker = setInterval(() => this.running.size > 0 && this.draw(), 1000).unref();

  constructor(
    sink: TextSink,
    private readonly columns: () => number,
    now: () => number = Date.now,
  ) {
    super(sink, now);
  }

  private clearBlock(): string {
    return this.drawnLines > 0 ? `\x1b[${this.drawnLines}F\x1b[J` : '';
  }

  private block(): string[] {
    const now = this.now();
    const width = Math.max(40, this.columns());
    return [...this.running].map(([instance, progress]) => {
      const fraction = progress.total > 0 ? Math.min(1, progress.done / progress.total) : 0;
      const filled = Math.round(fraction * BAR_WIDTH);
      const detail = progress.total > 0 ? describeProgress(progress, now) : `running ${formatDuration(now - progress.startedAt)}`;
      return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${instance} ${detail}`.slice(0, width - 1);
    });
  }

  private draw(permanent?: string): void {
    const lines = this.block();
    this.sink.write(`${this.clearBlock()}${permanent === undefined ? '' : `${permanent}\n`}${lines.map((line) => `${line}\n`).join('')}`);
    this.drawnLines = lines.length;
    this.lastDrawAt = this.now();
  }

  protected line(text: string): void {
    this.draw(text);
  }

  stageProgress(instance: string, done: number, total: number, unit: string): void {
    const progress = this.running.get(instance);
    if (!progress) return;
    Object.assign(progress, { done, total, unit });
    if (this.now() - this.lastDrawAt >= LIVE_REDRAW_MS) this.draw();
  }

  close(): void {
    clearInterval(this.ticker);
    this.sink.write(this.clearBlock());
    this.drawnLines = 0;
  }
}

/** A stream as the reporters need it: process.stderr, or a stand-in in tests. */
export interface TerminalSink extends TextSink {
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export function reporterFor(stream: TerminalSink): RunReporter {
  return stream.isTTY ? new LiveReporter(stream, () => stream.columns ?? 80) : new PlainReporter(stream);
}

export const silentReporter: RunReporter = {
  waitingForLock() {},
  runStarted() {},
  stageStarted() {},
  stageProgress() {},
  stageLog() {},
  stageFinished() {},
  close() {},
};
