// Read access to a config's results for commands outside the engine (report, export, notebooks):
// which instances exist, whether they are fresh, their output values and file paths, their metrics.
// Callers never need the cache layout.

import { decodeArtifact } from './artifacts.js';
import { openCache, resolveCacheDir, type Cache } from './cache-handle.js';
import { loadPipeline, type Pipeline, type StageInstance } from './config.js';
import { configMemoIn } from './config-memo.js';
import { planPipeline, type Freshness } from './engine.js';
import type { StoredOutput } from './history.js';
import { commandLine, setOptions } from './shell.js';
import type { AnyStage, ArtifactKind, ArtifactValues, Metrics } from './stage.js';

export interface WorkspaceOptions {
  /** Path of the YAML config, relative to the current directory. */
  readonly config: string;
  /** The stage registry (`stages` from stages/index.ts). */
  readonly stages: readonly AnyStage[];
  /** Default: $PASSEURS_CACHE, else .passeurs in the current directory. */
  readonly cacheDir?: string;
  /** `--set` overrides, as `name=value` or `stage.param=value`. */
  readonly overrides?: readonly string[];
}

export interface InstanceInfo {
  readonly name: string;
  readonly declaration: string;
  readonly stageType: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly fresh: boolean;
  /** The content key of its current result (the history's executions carry it); null when stale. */
  readonly key: string | null;
  /** Why it is stale (empty when fresh). */
  readonly reasons: readonly string[];
  readonly outputs: readonly { readonly name: string; readonly kind: ArtifactKind }[];
}

export interface ArtifactInfo {
  readonly instance: string;
  readonly output: string;
  readonly kind: ArtifactKind;
  /** Absolute path of the file (Arrow IPC file, JSON, or the blob with its extension). Read-only. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export class StaleInstanceError extends Error {}

export class Workspace {
  private readonly plan: Map<string, Freshness>;

  private constructor(
    readonly pipeline: Pipeline,
    readonly cache: Cache,
  ) {
    this.plan = planPipeline(cache, pipeline);
  }

  /** Parses the config (throws ConfigError) and opens its cache to read (creating nothing). Close it when done. */
  static open(options: WorkspaceOptions): Workspace {
    const cacheDir = resolveCacheDir(options.cacheDir);
    const pipeline = loadPipeline(options.config, options.stages, options.overrides ?? [], configMemoIn(cacheDir));
    return new Workspace(pipeline, openCache(cacheDir, 'read'));
  }

  close(): void {
    this.cache.close();
  }

  /** Every instance of the config, in pipeline order. */
  instances(): InstanceInfo[] {
    return this.pipeline.instances.map((instance) => {
      const freshness = this.plan.get(instance.name)!;
      return {
        name: instance.name,
        declaration: instance.declaration,
        stageType: instance.stage.name,
        params: instance.params,
        fresh: freshness.state === 'fresh',
        key: freshness.state === 'fresh' ? freshness.key : null,
        reasons: freshness.state === 'fresh' ? [] : freshness.reasons,
        outputs: Object.entries(instance.stage.outputs as Record<string, { kind: ArtifactKind }>).map(([name, spec]) => ({ name, kind: spec.kind })),
      };
    });
  }

  private instance(name: string): StageInstance {
    const instance = this.pipeline.byName.get(name);
    if (!instance) throw new Error(`${this.pipeline.file} has no stage instance "${name}"; it has: ${[...this.pipeline.byName.keys()].join(', ')}`);
    return instance;
  }

  private storedOutput(instanceName: string, output: string): StoredOutput {
    const instance = this.instance(instanceName);
    if (!(output in instance.stage.outputs)) throw new Error(`${instanceName} (${instance.stage.name}) has no output "${output}"; it has: ${Object.keys(instance.stage.outputs).join(', ')}`);
    const freshness = this.plan.get(instanceName)!;
    if (freshness.state !== 'fresh') {
      const run = commandLine(['pipeline', 'run', this.pipeline.file, ...setOptions(this.pipeline.overrides)]);
      throw new StaleInstanceError(`${instanceName} is not computed for the current config (${freshness.reasons.join('; ')}); run \`${run}\` first`);
    }
    return freshness.outputs.find((candidate) => candidate.output === output)!;
  }

  /** The file of a fresh instance's output. Throws StaleInstanceError when it must be (re)computed first. */
  artifact(instance: string, output: string): ArtifactInfo {
    const stored = this.storedOutput(instance, output);
    return { instance, output, kind: stored.kind, path: this.cache.store.pathOf(stored), size: stored.size, sha256: stored.hash };
  }

  /** The value of a fresh instance's output (tables are zero-copy views of the file's bytes). */
  async load<K extends ArtifactKind>(instance: string, output: string): Promise<ArtifactValues[K]> {
    const stored = this.storedOutput(instance, output);
    return (await decodeArtifact(stored.kind, await this.cache.store.read(stored), stored.extension)) as ArtifactValues[K];
  }

  /** Metrics of every fresh instance, keyed by instance name then output name: what the latest runs computed for this config. */
  metrics(): Map<string, Map<string, Metrics>> {
    const all = new Map<string, Map<string, Metrics>>();
    for (const instance of this.pipeline.instances) {
      const freshness = this.plan.get(instance.name)!;
      if (freshness.state !== 'fresh') continue;
      const metrics = this.cache.history.metricsOf(freshness.key);
      if (metrics.size > 0) all.set(instance.name, metrics);
    }
    return all;
  }
}
