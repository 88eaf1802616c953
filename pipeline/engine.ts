// Planning (what is fresh, what is stale and why) and execution of a pipeline.

import pLimit from 'p-limit';
import { cpus } from 'node:os';
import { acquireCacheLock } from '../cache/lock.js';
import { decodeArtifact, describeKindMismatch, encodeArtifact } from './artifacts.js';
import type { Cache } from './cache-handle.js';
import { refsOf, type InputBinding, type OutputRef, type Pipeline, type StageInstance } from './config.js';
import { fetchOutsideUrl, hashOutside, OutsideInputError, readOutsidePath, urlFileName } from './outside.js';
import { canonicalJson, instanceKey, type InputHashes } from './hashing.js';
import type { ExecutionStatus, RunStatus, StoredOutput } from './history.js';
import { projectCommit } from './provenance.js';
import { silentReporter, type RunReporter } from './progress.js';
import { usesAllCores, type AnyStage, type ArtifactKind, type ArtifactValues, type ManyItem, type Metrics, type StageContext } from './stage.js';

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

/** Content hashes of an instance's outside inputs, by input name. */
type OutsideHashes = Readonly<Record<string, string>>;

/** Hashes the outside inputs, reading only files whose stat changed since they were last hashed. Throws OutsideInputError. */
function hashOutsideInputs(cache: Cache, instance: StageInstance, signal?: AbortSignal): OutsideHashes {
  const hashes: Record<string, string> = {};
  for (const [name, binding] of Object.entries(instance.inputs)) {
    if (binding.outside) hashes[name] = hashOutside(binding.outside, cache.history.statCache(), signal);
  }
  return hashes;
}

function inputHashesOf(instance: StageInstance, outputsOf: (instance: string) => readonly StoredOutput[] | undefined, outsideHashes: OutsideHashes): InputHashes | undefined {
  const hashes: InputHashes = {};
  for (const [name, binding] of Object.entries(instance.inputs)) {
    if (binding.outside) {
      hashes[name] = outsideHashes[name]!;
      continue;
    }
    const refs = refsOf(binding);
    const resolved: Record<string, string> = {};
    for (const ref of refs) {
      const outputs = outputsOf(ref.instance);
      if (!outputs) return undefined;
      resolved[ref.instance] = outputHash(outputs, ref.output);
    }
    hashes[name] = binding.many ? resolved : resolved[refs[0]!.instance]!;
  }
  return hashes;
}

/** The matrix coordinates of the producers bound to each `many` input. */
function manyInputCoordinates(pipeline: Pipeline, instance: StageInstance): Record<string, Record<string, Readonly<Record<string, unknown>>>> {
  const coordinates: Record<string, Record<string, Readonly<Record<string, unknown>>>> = {};
  for (const [name, binding] of Object.entries(instance.inputs)) {
    if (binding.many) coordinates[name] = Object.fromEntries(binding.refs.map((ref) => [ref.instance, pipeline.byName.get(ref.instance)!.coordinates]));
  }
  return coordinates;
}

function keyOf(pipeline: Pipeline, instance: StageInstance, inputs: InputHashes): string {
  return instanceKey({
    stageType: instance.stage.name,
    stageVersion: instance.stage.version,
    params: instance.params,
    inputs,
    coordinates: manyInputCoordinates(pipeline, instance),
  });
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
  const outside = (name: string) => instance.inputs[name]?.outside;
  const changedArtifacts = changedInputs.filter((name) => !outside(name));
  if (changedArtifacts.length > 0) reasons.push(`input changed: ${changedArtifacts.join(', ')}`);
  for (const name of changedInputs) if (outside(name)) reasons.push(`outside input changed: ${outside(name)!.written}`);
  return reasons.length > 0 ? reasons : ['output missing (removed from the cache)'];
}

/** Freshness of one instance whose input hashes (and so its key) are known. */
function assess(cache: Cache, pipeline: Pipeline, instance: StageInstance, inputs: InputHashes, key: string, forced: boolean): Freshness {
  if (forced) return { state: 'stale', key, reasons: ['forced (--force)'] };
  const outputs = cache.history.resultOutputs(key);
  if (outputs && outputs.every((output) => cache.store.hasIntact(output))) return { state: 'fresh', key, outputs };
  return { state: 'stale', key, reasons: staleReasons(cache, pipeline.file, instance, key, inputs) };
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
    let outsideHashes: OutsideHashes;
    try {
      outsideHashes = hashOutsideInputs(cache, instance);
    } catch (error) {
      if (!(error instanceof OutsideInputError)) throw error;
      plan.set(instance.name, { state: 'stale', key: undefined, reasons: [`outside input unreadable: ${error.message}`] });
      continue;
    }
    const inputs = inputHashesOf(
      instance,
      (name) => {
        const freshness = plan.get(name);
        return freshness?.state === 'fresh' ? freshness.outputs : undefined;
      },
      outsideHashes,
    )!;
    plan.set(instance.name, assess(cache, pipeline, instance, inputs, keyOf(pipeline, instance, inputs), forced.has(instance.name)));
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

/** An input artifact that is missing, or whose bytes on disk no longer have the hash its producer recorded. */
class DamagedArtifactError extends Error {
  constructor(
    readonly producer: string,
    readonly stored: StoredOutput,
    problem: string,
  ) {
    super(`${producer}.${stored.output}: ${problem}`);
  }
}

/** Loads a cached artifact; the store checks that its bytes are the ones whose hash enters the consumer's key. */
async function loadVerified(cache: Cache, producer: string, stored: StoredOutput): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await cache.store.read(stored);
  } catch (error) {
    throw new DamagedArtifactError(producer, stored, errorMessage(error).split('\n')[0]!);
  }
  return decodeArtifact(stored.kind, bytes, stored.extension);
}

async function loadInput(cache: Cache, pipeline: Pipeline, binding: InputBinding, outcomes: ReadonlyMap<string, Outcome>, signal?: AbortSignal): Promise<{ value: unknown; outsideHash?: string }> {
  if (binding.outside) {
    if ('url' in binding.outside) {
      const bytes = await fetchOutsideUrl(binding.outside, { signal });
      return { value: { origin: binding.outside.written, kind: 'file', files: new Map([[urlFileName(binding.outside.url), bytes]]) }, outsideHash: binding.outside.sha256 };
    }
    const { value, hash } = readOutsidePath(binding.outside, cache.history.statCache(), signal);
    return { value, outsideHash: hash };
  }
  const load = (ref: OutputRef) => {
    const outcome = outcomes.get(ref.instance) as Extract<Outcome, { ok: true }>;
    return loadVerified(cache, ref.instance, outcome.outputs.find((candidate) => candidate.output === ref.output)!);
  };
  if (!binding.many) return { value: await load(binding.ref) };
  const items: ManyItem<unknown>[] = [];
  for (const ref of binding.refs) items.push({ instance: ref.instance, coordinates: pipeline.byName.get(ref.instance)!.coordinates, value: await load(ref) });
  return { value: items };
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
    const object = cache.store.identify(encoded.parts, encoded.extension);
    cache.history.notePendingObject(object);
    await cache.store.write(object, encoded.parts);
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
  const lock = await acquireCacheLock(cache.dir, {
    wait: options.wait ?? true,
    command: options.command ?? `run ${pipeline.file}`,
    onWait: (holder) => reporter.waitingForLock(cache.dir, holder),
  });
  try {
    cache.store.clearTemporaryFiles();
    for (const object of cache.history.takeAbandonedObjects()) cache.store.remove(object);
    cache.history.markAbandonedAsInterrupted();
    const runId = cache.history.startRun({ config: pipeline.file, overrides: pipeline.overrides, command: options.command ?? `run ${pipeline.file}` });
    // The commit is asked of git before the first stage computes, once: a run that reuses every
    // result made nothing for the commit to explain, and the git process was a tenth of its time.
    let commitRecorded: Promise<void> | undefined;
    const recordCommit = () =>
      (commitRecorded ??= projectCommit().then((git) => {
        if (git) cache.history.recordCommit(runId, git);
      }));
    reporter.runStarted(runId, selected.length);
    const limit = pLimit(Math.max(1, options.jobs ?? cpus().length));
    const gate = new CoreGate();
    const outcomes = new Map<string, Outcome>();
    const pending = new Map<string, Promise<Outcome>>();
    const summaries: ExecutionSummary[] = [];
    /** Keys being computed in this run, by the instance computing each. */
    const computing = new Map<string, { readonly instance: string; readonly done: Promise<void> }>();

    // A producer whose stored output turned out damaged runs again, once per run, whoever noticed it.
    const repairs = new Map<string, Promise<Outcome>>();
    const repair = (consumer: StageInstance, damage: DamagedArtifactError): Promise<Outcome> => {
      const running = repairs.get(damage.producer);
      if (running) return running;
      cache.store.remove(damage.stored);
      const detail = `${damage.message}; removed it and recomputing ${damage.producer}`;
      reporter.stageLog(consumer.name, `damaged input: ${detail}`);
      cache.history.recordEvent(runId, consumer.name, 'damaged input', detail);
      const rerun = execute(pipeline.byName.get(damage.producer)!).then((outcome) => {
        outcomes.set(damage.producer, outcome);
        return outcome;
      });
      repairs.set(damage.producer, rerun);
      return rerun;
    };

    type Attempt = Outcome | { readonly damaged: DamagedArtifactError };

    async function execute(instance: StageInstance): Promise<Outcome> {
      const upstream = await Promise.all(instance.dependencies.map((dependency) => pending.get(dependency)!));
      const startedAt = Date.now();
      const base = { runId, instance: instance.name, stageType: instance.stage.name, stageVersion: instance.stage.version, params: { ...instance.params } };
      const skip = (reason: string): Outcome => {
        cache.history.startExecution({ ...base, key: null, inputs: {} }, 'skipped', reason);
        summaries.push({ instance: instance.name, status: 'skipped', key: null, durationMs: 0, reasons: [reason] });
        reporter.stageFinished(instance.name, 'skipped', 0, reason);
        return { ok: false };
      };
      /** Records a failure (or an interruption), in the execution the stage started or in a new one. */
      const fail = (key: string | null, inputs: InputHashes, reasons: readonly string[], error: unknown, started?: { executionId: number; at: number }): Outcome => {
        const status = options.signal?.aborted ? 'interrupted' : 'failed';
        const executionId = started?.executionId ?? cache.history.startExecution({ ...base, key, inputs }, 'running');
        cache.history.finishExecution(executionId, status, error instanceof Error ? (error.stack ?? error.message) : String(error));
        summaries.push({ instance: instance.name, status, key, durationMs: Date.now() - startedAt, reasons, error: errorMessage(error) });
        reporter.stageFinished(instance.name, status, Date.now() - (started?.at ?? startedAt), errorMessage(error));
        return { ok: false };
      };
      if (upstream.some((outcome) => !outcome.ok)) return skip(`upstream did not complete: ${instance.dependencies.filter((name) => !outcomes.get(name)?.ok).join(', ')}`);
      if (options.signal?.aborted) return skip('the run was interrupted');
      let outsideHashes: OutsideHashes;
      try {
        outsideHashes = hashOutsideInputs(cache, instance, options.signal);
      } catch (error) {
        return fail(null, {}, [], error);
      }
      const allCores = usesAllCores(instance.stage, instance.params);
      for (let attempt = 1; ; attempt++) {
        const outputsOf = (name: string) => (outcomes.get(name) as Extract<Outcome, { ok: true }>).outputs;
        const inputs = inputHashesOf(instance, outputsOf, outsideHashes)!;
        // The key of the inputs as recorded; the stage's result is stored under the key of the bytes it actually reads.
        const plannedKey = keyOf(pipeline, instance, inputs);
        let freshness = assess(cache, pipeline, instance, inputs, plannedKey, forced.has(instance.name));
        // Another instance of this run computing the same key (the same stage, version, params and
        // input bytes under another name): wait for it and take its result rather than compute it twice.
        const twin = freshness.state === 'stale' && !forced.has(instance.name) ? computing.get(plannedKey) : undefined;
        if (twin) {
          await twin.done;
          freshness = assess(cache, pipeline, instance, inputs, plannedKey, false);
          if (freshness.state === 'fresh') reporter.stageLog(instance.name, `the same key as ${twin.instance}: its result is reused`);
        }
        if (freshness.state === 'fresh') {
          cache.history.startExecution({ ...base, key: freshness.key, inputs }, 'cached');
          summaries.push({ instance: instance.name, status: 'cached', key: freshness.key, durationMs: 0, reasons: [] });
          reporter.stageFinished(instance.name, 'cached', 0);
          return { ok: true, outputs: freshness.outputs };
        }
        const attempting = limit(() =>
          gate.run(allCores, async (): Promise<Attempt> => {
            // Every input is read and checked before the stage starts: outside files are hashed as
            // read, cached artifacts must hash to what their producer recorded.
            const values: Record<string, unknown> = {};
            const readHashes: Record<string, string> = {};
            await recordCommit();
            try {
              options.signal?.throwIfAborted();
              for (const [name, binding] of Object.entries(instance.inputs)) {
                const { value, outsideHash } = await loadInput(cache, pipeline, binding, outcomes, options.signal);
                values[name] = value;
                if (outsideHash !== undefined) readHashes[name] = outsideHash;
              }
            } catch (error) {
              if (error instanceof DamagedArtifactError && attempt <= 2) return { damaged: error };
              return fail(freshness.key ?? null, inputs, freshness.reasons, error);
            }
            // An outside file that changed since it was hashed: the key names the bytes actually read.
            const readInputs = inputHashesOf(instance, outputsOf, { ...outsideHashes, ...readHashes })!;
            const key = keyOf(pipeline, instance, readInputs);
            const executionId = cache.history.startExecution({ ...base, key, inputs: readInputs }, 'running');
            const began = Date.now();
            reporter.stageStarted(instance.name);
            try {
              const context: StageContext = {
                progress: (done, total, unit) => reporter.stageProgress(instance.name, done, total, unit),
                log: (message) => reporter.stageLog(instance.name, message),
                signal: options.signal ?? new AbortController().signal,
                threads: allCores ? cpus().length : 1,
              };
              const produced = await instance.stage.run(values, instance.params as AnyStageParams, context);
              const { outputs, metrics } = await storeOutputs(cache, instance, produced);
              cache.history.transaction(() => {
                cache.history.recordResult(key, runId, outputs, metrics);
                cache.history.finishExecution(executionId, 'succeeded');
              });
              summaries.push({ instance: instance.name, status: 'succeeded', key, durationMs: Date.now() - startedAt, reasons: freshness.reasons });
              reporter.stageFinished(instance.name, 'succeeded', Date.now() - began);
              return { ok: true, outputs };
            } catch (error) {
              return fail(key, readInputs, freshness.reasons, error, { executionId, at: began });
            }
          }),
        );
        const computation = { instance: instance.name, done: attempting.then(() => undefined, () => undefined) };
        computing.set(plannedKey, computation);
        const attempted = await attempting.finally(() => {
          if (computing.get(plannedKey) === computation) computing.delete(plannedKey);
        });
        if (!('damaged' in attempted)) return attempted;
        const repaired = await repair(instance, attempted.damaged);
        if (!repaired.ok) return skip(`upstream did not complete: ${attempted.damaged.producer} (recomputing its damaged output failed)`);
      }
    }

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
