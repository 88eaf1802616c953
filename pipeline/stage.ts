// The contract between the pipeline engine and the stages.
//
// A stage is a typed, declarative unit: a name, a version, a parameter schema,
// named inputs and outputs with their artifact kinds, and one function from
// inputs to outputs. A stage never sees a path of the cache or a run record:
// the engine hashes, stores, loads and records; the stage computes.

import type { Table } from './arrow.js';

/** How an artifact is stored and handed to a stage. */
export type ArtifactKind = 'table' | 'json' | 'metrics' | 'blob';

/** A binary file a stage produces: an image, a plot, a rendered table. */
export interface Blob {
  /** File extension without the dot (png, svg, md, csv, tex, bin...). */
  readonly extension: string;
  readonly bytes: Uint8Array;
}

/** Flat metrics: the run history records every entry. */
export type Metrics = Record<string, number | string>;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface ArtifactValues {
  table: Table;
  json: JsonValue;
  metrics: Metrics;
  blob: Blob;
}

/**
 * Bytes from outside the cache: a file or a folder the config names (`{ path: ... }`), or a file at
 * a URL pinned by its sha256. The engine hashed exactly these bytes into the stage's key.
 */
export interface OutsideFiles {
  /** The path or URL as the config wrote it, for messages. */
  readonly origin: string;
  readonly kind: 'file' | 'folder';
  /** Relative POSIX path -> bytes, sorted by path; a single file is listed under its base name. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** What a stage input may be: a cached artifact, or (`files`) an outside input. */
export type InputKind = ArtifactKind | 'files';

interface InputValues extends ArtifactValues {
  files: OutsideFiles;
}

// ---------------------------------------------------------------- parameters

interface ParamBase {
  readonly description: string;
  /**
   * Without a default, the config may leave it unset: it is then absent from the stage's params
   * and from its key, so a param added this way keeps every existing result of the stage fresh.
   */
  readonly optional?: boolean;
}
export interface IntegerParam extends ParamBase {
  readonly type: 'integer';
  readonly default?: number;
  readonly min?: number;
  readonly max?: number;
}
export interface NumberParam extends ParamBase {
  readonly type: 'number';
  readonly default?: number;
  readonly min?: number;
  readonly max?: number;
}
export interface StringParam extends ParamBase {
  readonly type: 'string';
  readonly default?: string;
}
export interface BooleanParam extends ParamBase {
  readonly type: 'boolean';
  readonly default?: boolean;
}
export interface EnumParam<V extends string = string> extends ParamBase {
  readonly type: 'enum';
  readonly values: readonly V[];
  readonly default?: V;
}
export interface ListParam extends ParamBase {
  readonly type: 'list';
  readonly items: 'integer' | 'number' | 'string';
  readonly default?: readonly (number | string)[];
}
export type ParamSpec = IntegerParam | NumberParam | StringParam | BooleanParam | EnumParam | ListParam;
export type ParamSchema = Record<string, ParamSpec>;

type ParamValue<S extends ParamSpec> = S extends IntegerParam | NumberParam
  ? number
  : S extends StringParam
    ? string
    : S extends BooleanParam
      ? boolean
      : S extends EnumParam<infer V>
        ? V
        : S extends ListParam
          ? (S['items'] extends 'string' ? string : number)[]
          : never;

/** The validated parameter values a stage receives: defaults already applied; an unset optional param is undefined. */
export type ParamsOf<S extends ParamSchema> = { readonly [K in keyof S]: S[K]['optional'] extends true ? ParamValue<S[K]> | undefined : ParamValue<S[K]> };

// -------------------------------------------------------- inputs and outputs

export interface InputSpec {
  /** `files`: bound in the config to an outside file or folder (`{ path: ... }` or `{ url: ..., sha256: ... }`). */
  readonly kind: InputKind;
  readonly description: string;
  /** Bound to a glob reference (`evaluate@*.metrics`): the stage receives a list of ManyItem, in config order. */
  readonly many?: boolean;
  /** The config may leave it unbound. */
  readonly optional?: boolean;
}
export interface OutputSpec {
  readonly kind: ArtifactKind;
  readonly description: string;
}
export type InputSchema = Record<string, InputSpec>;
export type OutputSchema = Record<string, OutputSpec>;

/** A matrix variable's value, as the config wrote it. */
export type Coordinate = string | number | boolean;

/** One artifact of a `many` input: the instance that produced it, its matrix coordinates (as data), and the value. */
export interface ManyItem<T> {
  readonly instance: string;
  /** The producing instance's matrix variables (`{ direction: 'toward', k: 2 }`); empty outside a matrix. */
  readonly coordinates: Readonly<Record<string, Coordinate>>;
  readonly value: T;
}

type InputValue<S extends InputSpec> = S['many'] extends true
  ? readonly ManyItem<InputValues[S['kind']]>[]
  : S['optional'] extends true
    ? InputValues[S['kind']] | undefined
    : InputValues[S['kind']];

export type InputsOf<S extends InputSchema> = { readonly [K in keyof S]: InputValue<S[K]> };
export type OutputsOf<S extends OutputSchema> = { [K in keyof S]: ArtifactValues[S[K]['kind']] };

// ------------------------------------------------------------------- context

export interface Progress {
  readonly done: number;
  readonly total: number;
  /** What is counted: images, iterations, bytes... */
  readonly unit: string;
}

/** What the engine lends a running stage. */
export interface StageContext {
  /** Report progress on long work; cheap to call often (the engine throttles display). */
  progress(done: number, total: number, unit: string): void;
  /** A line for the log (plain text, no trailing newline). */
  log(message: string): void;
  /** Aborted when the run is cancelled. */
  readonly signal: AbortSignal;
  /** Cores this stage may use (all of them for an `allCores` stage, else 1). */
  readonly threads: number;
}

// --------------------------------------------------------------------- stage

export interface Stage<
  P extends ParamSchema = ParamSchema,
  I extends InputSchema = InputSchema,
  O extends OutputSchema = OutputSchema,
> {
  /** The stage type, as written after `uses:` in a config. */
  readonly name: string;
  /** Bump when the outputs for the same inputs and params change: it invalidates the cache. */
  readonly version: number;
  readonly description: string;
  readonly params: P;
  readonly inputs: I;
  readonly outputs: O;
  /** The stage uses every core itself, so the engine runs it alone: always, or for the params where this returns true. */
  readonly allCores?: boolean | ((params: ParamsOf<P>) => boolean);
  run(inputs: InputsOf<I>, params: ParamsOf<P>, context: StageContext): Promise<OutputsOf<O>>;
}

/** Identity function that lets TypeScript infer a stage's parameter, input and output types. */
export function defineStage<P extends ParamSchema, I extends InputSchema, O extends OutputSchema>(
  stage: Stage<P, I, O>,
): Stage<P, I, O> {
  return stage;
}

/** Any stage, for registries and the engine. */
export type AnyStage = Stage<any, any, any>;

/** Whether the engine must run this stage, with these params, alone. */
export function usesAllCores(stage: AnyStage, params: Readonly<Record<string, unknown>>): boolean {
  // The config validated the params against the stage's schema.
  return typeof stage.allCores === 'function' ? stage.allCores(params as ParamsOf<ParamSchema>) : stage.allCores === true;
}
