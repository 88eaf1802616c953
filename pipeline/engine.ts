// Planning (what is fresh, what is stale and why) and execution of a pipeline.

import pLimit from 'p-limit';
import { cpus } from 'node:os';
import { acquireCacheLock } from '../cache/lock.js';
import { decodeArtifact, describeKindMismatch, encodeArtifact } from './artifacts.js';
import type { Cache } from './cache-handle.js';
import type { InputBinding, Pipeline, StageInstance } from './config.js';
import { canonicalJson, instanceKey, type InputHashes } from './hashing.js';
import type { ExecutionStart, ExecutionStatus, RunStatus, StoredOutput } from './history.js';
import { projectCommit } from './provenance.js';
import { silentReporter, type RunReporter, type StageOutcome } from './progress.js';
import { usesAllCores, type AnyStage, type ArtifactKind, type ArtifactValues, type Metrics, type StageContext } from './stage.js';

// The config validated params against the stage's schema.
type AnyStageParams = Parameters<AnyStage['run']>[1];

// ------------------------------------------------------------------ selection

/** Does a command-line name (instance name, declaration name, or glob) designate this instance? */
export function matchesInstance(pattern: string, instance: StageInstance): boolean {
  if (pattern === instance.name || pattern === instance.declaration) return true;
  if (!pattern.includes('*')) return false;
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return regex.test(instance.name);
}

export class SelectionError extends Error {}

function instancesMatching(pipeline: Pipeline, patterns: readonly string[], option: string): Set<string> {
  const names = new Set<string>();
  for (const pattern of patterns) {
    const matched = pipeline.instances.filter((instance) => matchesInstance(pattern, instance));
    if (matched.length === 0) {
      throw new SelectionError(`${option} ${pattern}: no stage instance of ${pipeline.file} matches; the instances are: ${pipeline.instances.map((instance) => instance.name).join(', ')}`);
    }
    for (const instance of matched) names.add(instance.name);
  }
  return names;
}

/** The instances named by --only and everything they read from, in pipeline order. */
export function selectInstances(pipeline: Pipeline, only: readonly string[]): StageInstance[] {
  if (only.length === 0) return [...pipeline.instances];
  const selected = instancesMatching(pipeline, only, '--only');
  for (const instance of [...pipeline.instances].reverse()) {
    if (selected.has(instance.name)) for (const dependency of instance.dependencies) selected.add(dependency);
  }
  return pipeline.instances.filter((instance) => selected.has(instance.name));
}

// ------------------------------------------------------------------- planning

export type Freshness =
  | { readonly state: 'fresh'; readonly key: string; readonly outputs: readonly StoredOutput[] }
  | { readonly state: 'stale'; readonly key: string | undefined; readonly reasons: readonly string[] };

function outputHash(outputs: readonly StoredOutput[], name: string): string {
  const output = outputs.find((candidate) => candidate.output === name);
  if (!output) throw new Error(`internal: recorded result lacks output ${name}`);
  return output.hash;
}

function inputHashesOf(instance: StageInstance, outputsOf: (instance: string) => readonly StoredOutput[] | undefined): InputHashes | undefined {
  const hashes: InputHashes = {};
  for (const [name, binding] of Object.entries(instance.inputs)) {
    const refs = binding.many ? binding.refs : [binding.ref];
    const resolved: Record<string, string> = {};
    for (const ref of refs) {
      const outputs = outputsOf(ref.instance);
      if (!outputs) return undefined;
      resolved[ref.instance] = outputHash(outputs, ref.output);
    }
    hashes[name] = binding.many ? resolved : resolved[binding.ref.instance]!;
  }
  return hashes;
}

function keyOf(instance: StageInstance, inputs: InputHashes): string {
  return instanceKey({ stageType: instance.stage.name, stageVersion: instance.stage.version, params: instance.params, inputs });
}

/** Why a key has no usable result, compared with the instance's last successful execution from the same config file. */
function staleReasons(cache: Cache, config: string, instance: StageInstance, key: string, inputs: InputHashes): string[] {
  const recorded = cache.history.resultOutputs(key);
  if (recorded) {
    const damaged = recorded.filter((output) => !cache.store.hasIntact(output));
    return damaged.map((output) => `output missing or changed on disk: ${output.output}`);
  }
  const previous = cache.history.lastSuccessfulExecution(config, instance.name);
  if (!previous) return ['never run'];
  const reasons: string[] = [];
  if (previous.stageType !== instance.stage.name) reasons.push(`stage type changed (${previous.stageType} -> ${instance.stage.name})`);
  if (previous.stageVersion !== instance.stage.version) reasons.push(`code version changed (${previous.stageVersion} -> ${instance.stage.version})`);
  const paramNames = [...new Set([...Object.keys(previous.params), ...Object.keys(instance.params)])].sort();
  const changedParams = paramNames.filter((name) => canonicalJson(previous.params[name]) !== canonicalJson(instance.params[name]));
  if (changedParams.length > 0) {
    reasons.push(`params changed: ${changedParams.map((name) => `${name} ${canonicalJson(previous.params[name]) ?? '(unset)'} -> ${canonicalJson(instance.params[name]) ?? '(unset)'}`).join(', ')}`);
  }
  const inputNames = [...new Set([...Object.keys(previous.inputs), ...Object.keys(inputs)])].sort();
  const changedInputs = inputNames.filter((name) => canonicalJson(previous.inputs[name]) !== canonicalJson(inputs[name]));
  if (changedInputs.length > 0) reasons.push(`input changed: ${changedInputs.join(', ')}`);
  return reasons.length > 0 ? reasons : ['output missing (removed from the cache)'];
}

/** Freshness of one instance whose input hashes are known. */
function assess(cache: Cache, config: string, instance: StageInstance, inputs: InputHashes, forced: boolean): Freshness {
  const key = keyOf(instance, inputs);
  if (forced) return { state: 'stale', key, reasons: ['forced (--force)'] };
  const outputs = cache.history.resultOutputs(key);
  if (outputs && outputs.every((output) => cache.store.hasIntact(output))) return { state: 'fresh', key, outputs };
  return { state: 'stale', key, reasons: staleReasons(cache, config, instance, key, inputs) };
}

/**
 * Fresh or stale, and why, for each selected instance, without running anything. An instance
 * downstream of a stale one is stale with an unknown key: its inputs are not computed yet.
 */
export function planPipeline(cache: Cache, pipeline: Pipeline, options: { only?: readonly string[]; force?: readonly string[] } = {}): Map<string, Freshness> {
  const forced = instancesMatching(pipeline, options.force ?? [], '--force');
  const plan = new Map<string, Freshness>();
  for (const instance of selectInstances(pipeline, options.only ?? [])) {
    const staleUpstream = instance.dependencies.filter((dependency) => plan.get(dependency)?.state !== 'fresh');
    if (staleUpstream.length > 0) {
      plan.set(instance.name, { state: 'stale', key: undefined, reasons: [`upstream stale: ${staleUpstream.join(', ')}`] });
      continue;
    }
    const inputs = inputHashesOf(instance, (name) => {
      const freshness = plan.get(name);
      return freshness?.state === 'fresh' ? freshness.outputs : undefined;
    })!;
    plan.set(instance.name, assess(cache, pipeline.file, instance, inputs, forced.has(instance.name)));
  }
  return plan;
}

// ------------------------------------------------------------------ execution

/** Lets ordinary stages share the machine and an `allCores` stage have it alone (first come, first served). */
class CoreGate {
  private active = 0;
  private exclusive = false;
  private readonly queue: { exclusive: boolean; resume: () => void }[] = [];

  async run<T>(exclusive: boolean, work: () => Promise<T>): Promise<T> {
    if (this.queue.length === 0 && this.canEnter(exclusive)) this.enter(exclusive);
    else await new Promise<void>((resume) => this.queue.push({ exclusive, resume }));
    try {
      return await work();
    } finally {
      this.active -= 1;
      this.exclusive = false;
      while (this.queue.length > 0 && this.canEnter(this.queue[0]!.exclusive)) {
        const next = this.queue.shift()!;
        this.enter(next.exclusive);
        next.resume();
      }
    }
  }

  private canEnter(exclusive: boolean): boolean {
    return exclusive ? this.active === 0 : !this.exclusive;
  }

  private enter(exclusive: boolean): void {
    this.active += 1;
    this.exclusive = exclusive;
  }
}

export interface RunOptions {
  readonly only?: readonly string[];
  readonly force?: readonly string[];
  /** Concurrent stages; default: the number of cores. */
  readonly jobs?: number;
  /** When another process holds the cache: wait (default) or throw CacheBusyError. */
  readonly wait?: boolean;
  readonly signal?: AbortSignal;
  readonly reporter?: RunReporter;
  /** The command line, for the history and the lock holder note. */
  readonly command?: string;
}

export interface ExecutionSummary {
  readonly instance: string;
  readonly status: ExecutionStatus;
  readonly key: string | null;
  readonly durationMs: number;
  readonly reasons: readonly string[];
  readonly error?: string;
}

export interface RunSummary {
  readonly runId: number;
  readonly status: RunStatus;
  readonly executions: readonly ExecutionSummary[];
}

type Outcome = { readonly ok: true; readonly outputs: readonly StoredOutput[] } | { readonly ok: false };

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function loadInput(cache: Cache, binding: InputBinding, outcomes: ReadonlyMap<string, Outcome>): Promise<unknown> {
  const load = async (instance: string, output: string) => {
    const outcome = outcomes.get(instance) as Extract<Outcome, { ok: true }>;
    const stored = outcome.outputs.find((candidate) => candidate.output === output)!;
    return decodeArtifact(stored.kind, cache.store.read(stored), stored.extension);
  };
  if (!binding.many) return load(binding.ref.instance, binding.ref.output);
  const values: Record<string, unknown> = {};
  for (const ref of binding.refs) values[ref.instance] = await load(ref.instance, ref.output);
  return values;
}

/** Checks every declared output, then encodes and stores them; returns them sorted by name, with their metrics. */
async function storeOutputs(cache: Cache, instance: StageInstance, produced: unknown) {
  if (produced === null || typeof produced !== 'object') throw new Error(`stage ${instance.stage.name} returned ${typeof produced}, expected an object of outputs`);
  const values = produced as Record<string, unknown>;
  const declared = Object.keys(instance.stage.outputs).sort();
  const extra = Object.keys(values).filter((name) => !declared.includes(name));
  if (extra.length > 0) throw new Error(`stage ${instance.stage.name} returned undeclared outputs: ${extra.join(', ')}`);
  const kindOf = (name: string) => (instance.stage.outputs[name] as { kind: ArtifactKind }).kind;
  for (const name of declared) {
    const problem = await describeKindMismatch(kindOf(name), values[name]);
    if (problem) throw new Error(`stage ${instance.stage.name} output "${name}" (${kindOf(name)}): ${problem}`);
  }
  const outputs: StoredOutput[] = [];
  const metrics = new Map<string, Metrics>();
  for (const name of declared) {
    const kind = kindOf(name);
    const encoded = await encodeArtifact(kind, values[name] as ArtifactValues[typeof kind]);
    const object = cache.store.identify(encoded.bytes, encoded.extension);
    cache.history.notePendingObject(object);
    await cache.store.write(object, encoded.bytes);
    outputs.push({ output: name, kind, ...object });
    if (kind === 'metrics') metrics.set(name, values[name] as Metrics);
  }
  return { outputs, metrics };
}

/** Runs the selected instances, reusing fresh results. Holds the cache lock throughout. */
export async function runPipeline(cache: Cache, pipeline: Pipeline, options: RunOptions = {}): Promise<RunSummary> {
  const reporter = options.reporter ?? silentReporter;
  const selected = selectInstances(pipeline, options.only ?? []);
  const forced = instancesMatching(pipeline, options.force ?? [], '--force');
  const commit = projectCommit();
  const lock = await acquireCacheLock(cache.dir, {
    wait: options.wait ?? true,
    command: options.command ?? `run ${pipeline.file}`,
    onWait: (holder) => reporter.waitingForLock(cache.dir, holder),
  });
  try {
    cache.store.clearTemporaryFiles();
    for (const object of cache.history.takeAbandonedObjects()) cache.store.remove(object);
    cache.history.markAbandonedAsInterrupted();
    const runId = cache.history.startRun({ config: pipeline.file, overrides: pipeline.overrides, command: options.command ?? `run ${pipeline.file}`, git: await commit });
    reporter.runStarted(runId, selected.length);
    const limit = pLimit(Math.max(1, options.jobs ?? cpus().length));
    const gate = new CoreGate();
    const outcomes = new Map<string, Outcome>();
    const pending = new Map<string, Promise<Outcome>>();
    const summaries: ExecutionSummary[] = [];

    const execute = async (instance: StageInstance): Promise<Outcome> => {
      const upstream = await Promise.all(instance.dependencies.map((dependency) => pending.get(dependency)!));
      const startedAt = Date.now();
      const base = { runId, instance: instance.name, stageType: instance.stage.name, stageVersion: instance.stage.version, params: { ...instance.params } };
      const skip = (reason: string): Outcome => {
        cache.history.startExecution({ ...base, key: null, inputs: {} }, 'skipped', reason);
        summaries.push({ instance: instance.name, status: 'skipped', key: null, durationMs: 0, reasons: [reason] });
        reporter.stageFinished(instance.name, 'skipped', 0, reason);
        return { ok: false };
      };
      if (upstream.some((outcome) => !outcome.ok)) return skip(`upstream did not complete: ${instance.dependencies.filter((name) => !outcomes.get(name)?.ok).join(', ')}`);
      if (options.signal?.aborted) return skip('the run was interrupted');
      const inputs = inputHashesOf(instance, (name) => (outcomes.get(name) as Extract<Outcome, { ok: true }>).outputs)!;
      const freshness = assess(cache, pipeline.file, instance, inputs, forced.has(instance.name));
      const start: ExecutionStart = { ...base, key: freshness.key!, inputs };
      if (freshness.state === 'fresh') {
        cache.history.startExecution(start, 'cached');
        summaries.push({ instance: instance.name, status: 'cached', key: freshness.key, durationMs: 0, reasons: [] });
        reporter.stageFinished(instance.name, 'cached', 0);
        return { ok: true, outputs: freshness.outputs };
      }
      return limit(() =>
        gate.run(usesAllCores(instance.stage, instance.params), async (): Promise<Outcome> => {
          const executionId = cache.history.startExecution(start, 'running');
          const began = Date.now();
          reporter.stageStarted(instance.name);
          const finish = (status: StageOutcome & ExecutionStatus, error?: string) => {
            summaries.push({ instance: instance.name, status, key: freshness.key!, durationMs: Date.now() - startedAt, reasons: freshness.reasons, ...(error === undefined ? {} : { error }) });
            reporter.stageFinished(instance.name, status, Date.now() - began, error);
          };
          try {
            if (options.signal?.aborted) throw new Error('the run was interrupted');
            const values: Record<string, unknown> = {};
            for (const [name, binding] of Object.entries(instance.inputs)) values[name] = await loadInput(cache, binding, outcomes);
            const context: StageContext = {
              progress: (done, total, unit) => reporter.stageProgress(instance.name, done, total, unit),
              log: (message) => reporter.stageLog(instance.name, message),
              signal: options.signal ?? new AbortController().signal,
              threads: usesAllCores(instance.stage, instance.params) ? cpus().length : 1,
            };
            const produced = await instance.stage.run(values, instance.params as AnyStageParams, context);
            const { outputs, metrics } = await storeOutputs(cache, instance, produced);
            cache.history.transaction(() => {
              cache.history.recordResult(freshness.key!, runId, outputs, metrics);
              cache.history.finishExecution(executionId, 'succeeded');
            });
            finish('succeeded');
            return { ok: true, outputs };
          } catch (error) {
            const status = options.signal?.aborted ? 'interrupted' : 'failed';
            cache.history.finishExecution(executionId, status, error instanceof Error ? (error.stack ?? error.message) : String(error));
            finish(status, errorMessage(error));
            return { ok: false };
          }
        }),
      );
    };

    for (const instance of selected) {
      pending.set(
        instance.name,
        execute(instance).then((outcome) => {
          outcomes.set(instance.name, outcome);
          return outcome;
        }),
      );
    }
    await Promise.all(pending.values());
    const status: RunStatus = options.signal?.aborted
      ? 'interrupted'
      : summaries.some((summary) => summary.status === 'failed' || summary.status === 'skipped')
        ? 'failed'
        : 'succeeded';
    cache.history.finishRun(runId, status);
    const order = new Map(selected.map((instance, index) => [instance.name, index]));
    return { runId, status, executions: summaries.sort((a, b) => order.get(a.instance)! - order.get(b.instance)!) };
  } finally {
    reporter.close();
    lock.release();
  }
}
