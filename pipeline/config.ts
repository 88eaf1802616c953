// Pipeline configs: YAML -> validated, matrix-expanded, topologically sorted stage instances.
// Every user error is a ConfigError naming the file, the line, the key and a fix.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Document, LineCounter } from 'yaml';
import type { OutsideSource } from './outside.js';
import type { AnyStage, Coordinate, ParamSpec } from './stage.js';

/** The config a command reads when none is named. */
export const DEFAULT_CONFIG = 'configs/cifar.yaml';

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly key: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${line > 0 ? `${file}:${line}` : file}: ${key}: ${problem}\n  fix: ${fix}`);
    this.name = 'ConfigError';
  }
}

export interface OutputRef {
  readonly instance: string;
  readonly output: string;
}

export type InputBinding =
  | { readonly many: false; readonly ref: OutputRef; readonly outside?: undefined }
  | { readonly many: true; readonly refs: readonly OutputRef[]; readonly outside?: undefined }
  | { readonly many: false; readonly ref?: undefined; readonly outside: OutsideSource };

/** The cached artifacts an input binding reads (none for an outside input). */
export function refsOf(binding: InputBinding): readonly OutputRef[] {
  return binding.many ? binding.refs : binding.ref ? [binding.ref] : [];
}

export interface StageInstance {
  /** `features`, or `features@split=train` for a matrix instance. */
  readonly name: string;
  /** The `name:` of its declaration in the config. */
  readonly declaration: string;
  /** Its matrix variables and their values, in declared order (empty outside a matrix). */
  readonly coordinates: Readonly<Record<string, Coordinate>>;
  readonly stage: AnyStage;
  /** Validated against the stage's schema, defaults applied. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly inputs: Readonly<Record<string, InputBinding>>;
  /** Instances whose outputs it reads, without repeats. */
  readonly dependencies: readonly string[];
}

export interface Pipeline {
  readonly file: string;
  /** The `--set` overrides it was loaded with, as given. */
  readonly overrides: readonly string[];
  /** In a topological order (producers before consumers), declaration order among independent ones. */
  readonly instances: readonly StageInstance[];
  readonly byName: ReadonlyMap<string, StageInstance>;
}

type Path = readonly (string | number)[];
type Scalar = Coordinate;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INTERPOLATION = /\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:([+-])\s*(\d+)\s*)?\}/g;
const STAGE_KEYS = ['name', 'uses', 'params', 'inputs', 'matrix'];

type Yaml = typeof import('yaml');
const require = createRequire(import.meta.url);
let yamlLibrary: Yaml | undefined;
/**
 * The yaml library, loaded on first use: parsing a config's text cold was a fifth of a warm no-op
 * run, so a config whose parse is in a ConfigMemo is read without it (docs/speed-noop.md).
 */
function yaml(): Yaml {
  yamlLibrary ??= require('yaml') as Yaml;
  return yamlLibrary;
}

/** Locates YAML paths in the source text for error messages; parses the text on the first question. */
class Source {
  private parsed: { readonly document: Document; readonly lineCounter: LineCounter } | undefined;

  constructor(
    readonly file: string,
    private readonly text: string,
  ) {}

  get document(): Document {
    return this.parse().document;
  }

  private parse() {
    if (!this.parsed) {
      const lineCounter = new (yaml().LineCounter)();
      this.parsed = { document: yaml().parseDocument(this.text, { lineCounter, prettyErrors: false }), lineCounter };
    }
    return this.parsed;
  }

  lineAt(offset: number): number {
    return this.parse().lineCounter.linePos(offset).line;
  }

  /** Line of the last key of `path` (or of its deepest existing ancestor). */
  lineOf(path: Path): number {
    const { isMap, isPair, isScalar, isSeq } = yaml();
    let node: unknown = this.document.contents;
    let offset = 0;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === segment);
        if (!pair) break;
        offset = (pair.key as { range?: [number, number, number] }).range?.[0] ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment]) {
        node = node.items[segment];
        offset = (node as { range?: [number, number, number] }).range?.[0] ?? offset;
      } else {
        break;
      }
    }
    return this.lineAt(offset);
  }

  error(path: Path, key: string, problem: string, fix: string): ConfigError {
    return new ConfigError(this.file, this.lineOf(path), key, problem, fix);
  }
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** "did you mean X?" when a candidate is close, else the list of valid names. */
function suggest(wrong: string, candidates: Iterable<string>, what: string): string {
  const list = [...candidates];
  if (list.length === 0) return `there is no ${what} to use here`;
  const closest = list.map((name) => ({ name, distance: editDistance(wrong, name) })).sort((x, y) => x.distance - y.distance)[0]!;
  if (closest.distance <= Math.max(2, Math.floor(wrong.length / 3))) return `did you mean "${closest.name}"? (${what}: ${list.join(', ')})`;
  return `use one of the ${what}: ${list.join(', ')}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isScalarValue(value: unknown): value is Scalar {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** Replaces `${name}` and `${name+N}` / `${name-N}`; a string that is exactly one `${...}` keeps the variable's type. */
function interpolate(value: unknown, variables: ReadonlyMap<string, unknown>, source: Source, path: Path, key: string): unknown {
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, variables, source, [...path, index], `${key}[${index}]`));
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([name, item]) => [name, interpolate(item, variables, source, [...path, name], `${key}.${name}`)]),
    );
  }
  if (typeof value !== 'string' || !value.includes('${')) return value;
  const evaluate = (name: string, sign: string | undefined, amount: string | undefined): unknown => {
    if (!variables.has(name)) {
      throw source.error(path, key, `unknown variable \${${name}}`, suggest(name, variables.keys(), 'variables (global params and matrix variables)'));
    }
    const variable = variables.get(name);
    if (sign === undefined) return variable;
    if (typeof variable !== 'number' || !Number.isInteger(variable)) {
      throw source.error(path, key, `\${${name}${sign}${amount}}: arithmetic needs an integer, but ${name} is ${JSON.stringify(variable)}`, `use arithmetic only on integer variables`);
    }
    return sign === '+' ? variable + Number(amount) : variable - Number(amount);
  };
  const whole = new RegExp(`^${INTERPOLATION.source}$`).exec(value);
  if (whole) return evaluate(whole[1]!, whole[2], whole[3]);
  return value.replace(INTERPOLATION, (_match, name: string, sign?: string, amount?: string) => {
    const result = evaluate(name, sign, amount);
    if (!isScalarValue(result)) {
      throw source.error(path, key, `\${${name}} is a ${Array.isArray(result) ? 'list' : 'map'} and cannot be spliced into text`, `write "\${${name}}" alone as the whole value`);
    }
    return String(result);
  });
}

function describeValue(value: unknown): string {
  return `${JSON.stringify(value)} (${Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value})`;
}

/** Checks one param value against its spec; returns the problem, if any. */
function paramProblem(spec: ParamSpec, value: unknown): string | undefined {
  const range = (number: number, min?: number, max?: number): string | undefined =>
    min !== undefined && number < min ? `${number} is below the minimum ${min}` : max !== undefined && number > max ? `${number} is above the maximum ${max}` : undefined;
  switch (spec.type) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value) ? range(value, spec.min, spec.max) : `expected an integer, got ${describeValue(value)}`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? range(value, spec.min, spec.max) : `expected a number, got ${describeValue(value)}`;
    case 'string':
      return typeof value === 'string' ? undefined : `expected a string, got ${describeValue(value)}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `expected true or false, got ${describeValue(value)}`;
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value) ? undefined : `expected one of ${spec.values.join(', ')}, got ${describeValue(value)}`;
    case 'list': {
      if (!Array.isArray(value)) return `expected a list of ${spec.items}s, got ${describeValue(value)}`;
      const bad = value.find((item) => (spec.items === 'string' ? typeof item !== 'string' : typeof item !== 'number' || (spec.items === 'integer' && !Number.isInteger(item))));
      return bad === undefined ? undefined : `expected a list of ${spec.items}s, but it contains ${describeValue(bad)}`;
    }
  }
}

/** Validates params against the stage's schema and applies defaults; errors in `overridden` params name the --set option. */
function validateParams(
  stage: AnyStage,
  given: Record<string, unknown>,
  overridden: ReadonlySet<string>,
  source: Source,
  declarationIndex: number,
  label: string,
): Record<string, unknown> {
  const schema = stage.params as Record<string, ParamSpec>;
  const fail = (name: string, path: Path, problem: string, fix: string) =>
    overridden.has(name) ? new ConfigError('--set', 0, `${label}.${name}`, problem, fix) : source.error(path, `${label}.params.${name}`, problem, fix);
  for (const name of Object.keys(given)) {
    if (!(name in schema)) {
      throw fail(name, ['stages', declarationIndex, 'params', name], `stage type "${stage.name}" has no param "${name}"`, suggest(name, Object.keys(schema), `params of ${stage.name}`));
    }
  }
  const params: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const value = name in given ? given[name] : spec.default;
    if (value === undefined && spec.optional) continue;
    if (value === undefined) {
      throw fail(name, ['stages', declarationIndex, 'params'], `missing required param "${name}" of stage type "${stage.name}" (${spec.description})`, `add \`${name}: <${spec.type === 'enum' ? spec.values.join('|') : spec.type}>\` under params`);
    }
    const problem = paramProblem(spec, value);
    if (problem) {
      throw fail(name, ['stages', declarationIndex, 'params', name], problem, `set ${name} to ${spec.type === 'enum' ? `one of ${spec.values.join(', ')}` : `a value of type ${spec.type}`} (${spec.description})`);
    }
    params[name] = value;
  }
  return params;
}

interface Declaration {
  readonly index: number;
  readonly name: string;
  readonly stage: AnyStage;
  readonly raw: Record<string, unknown>;
}

interface PendingInstance {
  readonly name: string;
  readonly declaration: Declaration;
  readonly coordinates: ReadonlyMap<string, Scalar>;
  readonly variables: ReadonlyMap<string, unknown>;
  readonly params: Record<string, unknown>;
}

/** Applies the --set values to the global params and the stage declarations they name. */
function applyOverrides(overrides: readonly OverrideValue[], globals: Record<string, unknown>, declarationNames: ReadonlySet<string>) {
  const globalOverrides: Record<string, unknown> = {};
  const stageOverrides = new Map<string, Record<string, unknown>>();
  for (const { override, path, value } of overrides) {
    const fail = (problem: string, fix: string) => new ConfigError('--set', 0, override, problem, fix);
    const dot = path.indexOf('.');
    if (dot < 0) {
      if (!(path in globals)) throw fail(`there is no global param "${path}"`, suggest(path, Object.keys(globals), 'global params'));
      globalOverrides[path] = value;
    } else {
      const declaration = path.slice(0, dot);
      if (!declarationNames.has(declaration)) throw fail(`there is no stage named "${declaration}"`, suggest(declaration, declarationNames, 'stage names'));
      const params = stageOverrides.get(declaration) ?? {};
      params[path.slice(dot + 1)] = value;
      stageOverrides.set(declaration, params);
    }
  }
  return { globalOverrides, stageOverrides };
}

function readDeclarations(source: Source, stagesValue: unknown, registry: ReadonlyMap<string, AnyStage>): Declaration[] {
  if (!Array.isArray(stagesValue) || stagesValue.length === 0) {
    throw source.error(['stages'], 'stages', 'expected a non-empty list of stages', 'add `stages:` with items like `- { name: data, uses: download }`');
  }
  const declarations: Declaration[] = [];
  const seen = new Set<string>();
  stagesValue.forEach((raw: unknown, index) => {
    if (!isPlainObject(raw)) throw source.error(['stages', index], `stages[${index}]`, 'expected a map with name and uses', 'write `- name: <name>` then `uses: <stage type>`');
    const name = raw.name;
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
      throw source.error(['stages', index, 'name'], `stages[${index}].name`, `expected a name of letters, digits, _ and -, got ${describeValue(name)}`, 'give the stage a name such as `features`');
    }
    if (seen.has(name)) throw source.error(['stages', index, 'name'], `${name}.name`, `duplicate stage name "${name}"`, 'rename one of the two stages: names must be unique');
    seen.add(name);
    for (const key of Object.keys(raw)) {
      if (!STAGE_KEYS.includes(key)) throw source.error(['stages', index, key], `${name}.${key}`, `unknown key "${key}"`, suggest(key, STAGE_KEYS, 'stage keys'));
    }
    const stage = typeof raw.uses === 'string' ? registry.get(raw.uses) : undefined;
    if (!stage) {
      throw source.error(['stages', index, 'uses'], `${name}.uses`, `unknown stage type ${describeValue(raw.uses)}`, suggest(String(raw.uses), registry.keys(), 'stage types'));
    }
    for (const key of ['params', 'inputs', 'matrix']) {
      if (raw[key] !== undefined && raw[key] !== null && !isPlainObject(raw[key])) {
        throw source.error(['stages', index, key], `${name}.${key}`, `expected a map, got ${describeValue(raw[key])}`, `write ${key} as \`key: value\` lines`);
      }
    }
    declarations.push({ index, name, stage, raw });
  });
  return declarations;
}

function expandMatrix(source: Source, declaration: Declaration, globals: ReadonlyMap<string, unknown>): Map<string, Scalar>[] {
  const matrix = (declaration.raw.matrix ?? {}) as Record<string, unknown>;
  let combinations: Map<string, Scalar>[] = [new Map()];
  for (const [variable, rawValues] of Object.entries(matrix)) {
    const path = ['stages', declaration.index, 'matrix', variable];
    const key = `${declaration.name}.matrix.${variable}`;
    if (!VARIABLE.test(variable)) throw source.error(path, key, `"${variable}" is not a variable name`, 'use letters, digits and _ only');
    const values = interpolate(rawValues, globals, source, path, key);
    if (!Array.isArray(values) || values.length === 0 || !values.every(isScalarValue)) {
      throw source.error(path, key, `expected a non-empty list of plain values, got ${describeValue(values)}`, `write e.g. \`${variable}: [1, 2, 3]\``);
    }
    combinations = combinations.flatMap((combination) => values.map((value) => new Map([...combination, [variable, value]])));
  }
  return combinations;
}

function instanceName(declaration: string, combination: ReadonlyMap<string, Scalar>): string {
  if (combination.size === 0) return declaration;
  return `${declaration}@${[...combination].map(([variable, value]) => `${variable}=${value}`).join(',')}`;
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

function resolveInputs(
  source: Source,
  pending: PendingInstance,
  instances: ReadonlyMap<string, PendingInstance>,
  declarationNames: ReadonlySet<string>,
): Record<string, InputBinding> {
  const { declaration } = pending;
  const stage = declaration.stage;
  const rawInputs = (declaration.raw.inputs ?? {}) as Record<string, unknown>;
  const bindings: Record<string, InputBinding> = {};
  for (const [inputName, rawReference] of Object.entries(rawInputs)) {
    const path = ['stages', declaration.index, 'inputs', inputName];
    const key = `${declaration.name}.inputs.${inputName}`;
    const spec = stage.inputs[inputName] as { kind: string; many?: boolean } | undefined;
    if (!spec) throw source.error(path, key, `stage type "${stage.name}" has no input "${inputName}"`, suggest(inputName, Object.keys(stage.inputs), `inputs of ${stage.name}`));
    const interpolated = interpolate(rawReference, pending.variables, source, path, key);
    if (spec.kind === 'files' || isPlainObject(interpolated)) {
      const outside = outsideSource(source, path, key, inputName, spec, interpolated);
      if (outside) bindings[inputName] = { many: false, outside };
      continue;
    }
    const alternatives = Array.isArray(interpolated) ? interpolated : [interpolated];
    if (alternatives.length === 0 || !alternatives.every((item) => typeof item === 'string')) {
      throw source.error(path, key, `expected a reference "instance.output" or a list of them, got ${describeValue(interpolated)}`, 'write e.g. `images: data.train`');
    }
    // A list is alternatives (the first that exists wins) for a single input, and a union for a `many` one.
    const matches: { pattern: string; output: string; instances: string[] }[] = [];
    for (const reference of alternatives as string[]) {
      const dot = reference.lastIndexOf('.');
      if (dot <= 0 || dot === reference.length - 1) {
        throw source.error(path, key, `"${reference}" is not a reference`, 'write instance name, a dot, then the output name, e.g. `data.train`');
      }
      const pattern = reference.slice(0, dot);
      const base = pattern.split('@')[0]!;
      if (!base.includes('*') && !declarationNames.has(base)) {
        throw source.error(path, key, `"${reference}" refers to "${base}", which is not a stage of this config`, suggest(base, declarationNames, 'stage names'));
      }
      const found = pattern.includes('*') ? [...instances.keys()].filter((name) => globToRegExp(pattern).test(name)) : instances.has(pattern) ? [pattern] : [];
      if (found.length > 0) {
        matches.push({ pattern, output: reference.slice(dot + 1), instances: found });
        if (!spec.many) break;
      } else if (spec.many && alternatives.length > 1) {
        throw source.error(path, key, `no instance matches "${reference}"`, `remove it from the list, or reference existing instances (${[...instances.keys()].slice(0, 8).join(', ')}${instances.size > 8 ? ', ...' : ''})`);
      }
    }
    if (matches.length === 0) {
      throw source.error(path, key, `dangling reference: no instance matches ${alternatives.map((item) => `"${item}"`).join(' or ')}`, `reference an existing instance (${[...instances.keys()].slice(0, 8).join(', ')}${instances.size > 8 ? ', ...' : ''})`);
    }
    for (const matched of matches) for (const producerName of matched.instances) {
      const producer = instances.get(producerName)!.declaration.stage;
      const output = producer.outputs[matched.output] as { kind: string } | undefined;
      if (!output) {
        throw source.error(path, key, `stage type "${producer.name}" (instance ${producerName}) has no output "${matched.output}"`, suggest(matched.output, Object.keys(producer.outputs), `outputs of ${producer.name}`));
      }
      if (output.kind !== spec.kind) {
        throw source.error(path, key, `input kind mismatch: "${inputName}" takes a ${spec.kind}, but ${producerName}.${matched.output} is a ${output.kind}`, `bind an output of kind ${spec.kind}`);
      }
    }
    const refs = matches.flatMap((matched) => matched.instances.map((instance) => ({ instance, output: matched.output })));
    if (spec.many) {
      bindings[inputName] = { many: true, refs: refs.filter((ref, index) => refs.findIndex((other) => other.instance === ref.instance) === index) };
    } else if (matches[0]!.pattern.includes('*')) {
      throw source.error(path, key, `input "${inputName}" takes one artifact, but the glob "${matches[0]!.pattern}" is for inputs declared many`, 'reference a single instance');
    } else {
      bindings[inputName] = { many: false, ref: refs[0]! };
    }
  }
  for (const [inputName, spec] of Object.entries(stage.inputs as Record<string, { optional?: boolean; kind: string }>)) {
    if (!(inputName in bindings) && !spec.optional) {
      throw source.error(['stages', declaration.index, 'inputs'], `${declaration.name}.inputs.${inputName}`, `missing required input "${inputName}" (a ${spec.kind}) of stage type "${stage.name}"`, `add \`${inputName}: <instance>.<output>\` under inputs`);
    }
  }
  return bindings;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * An outside input: `{ path: P }` (relative to the config file's folder) or `{ url: U, sha256: H }`.
 * An empty path leaves an optional input unbound, so that a global like `mirror: ""` (or `--set mirror=`) can switch it off.
 */
function outsideSource(source: Source, path: Path, key: string, inputName: string, spec: { kind: string; optional?: boolean }, value: unknown): OutsideSource | undefined {
  const example = `write \`${inputName}: { path: some/folder }\` (relative to the config's folder) or \`${inputName}: { url: https://..., sha256: <64 hex digits> }\``;
  if (spec.kind !== 'files') {
    throw source.error(path, key, `input "${inputName}" takes a ${spec.kind} from another stage, not an outside file`, `write a reference such as \`${inputName}: data.train\``);
  }
  if (!isPlainObject(value)) throw source.error(path, key, `input "${inputName}" takes an outside file or folder, got ${describeValue(value)}`, example);
  const keys = Object.keys(value).sort().join(',');
  if (keys === 'path' && (typeof value.path === 'string' || value.path === null)) {
    if (!value.path) {
      if (spec.optional) return undefined;
      throw source.error(path, key, `input "${inputName}" has an empty path`, example);
    }
    return { path: isAbsolute(value.path) ? value.path : resolve(dirname(source.file), value.path), written: value.path };
  }
  if (keys === 'sha256,url' && typeof value.url === 'string' && typeof value.sha256 === 'string') {
    if (!/^https?:\/\//.test(value.url)) throw source.error(path, key, `"${value.url}" is not an http(s) URL`, example);
    if (!SHA256.test(value.sha256)) throw source.error(path, key, `sha256 "${value.sha256}" is not 64 lowercase hex digits`, 'give the sha256 of the file at the URL (`sha256sum FILE`)');
    return { url: value.url, sha256: value.sha256, written: value.url };
  }
  throw source.error(path, key, `expected { path } or { url, sha256 }, got ${describeValue(value)}`, example);
}

function sortTopologically(source: Source, instances: readonly StageInstance[], declarationIndex: ReadonlyMap<string, number>): StageInstance[] {
  const byName = new Map(instances.map((instance) => [instance.name, instance]));
  const remainingDependencies = new Map(instances.map((instance) => [instance.name, new Set(instance.dependencies)]));
  const sorted: StageInstance[] = [];
  let progressed = true;
  while (progressed) {
    progressed = false;
    for (const instance of instances) {
      const remaining = remainingDependencies.get(instance.name);
      if (remaining && [...remaining].every((dependency) => !remainingDependencies.has(dependency))) {
        remainingDependencies.delete(instance.name);
        sorted.push(instance);
        progressed = true;
      }
    }
  }
  if (remainingDependencies.size === 0) return sorted;
  // Walk dependencies among the leftovers until a name repeats: that stretch is a cycle.
  const walk = [[...remainingDependencies.keys()][0]!];
  for (;;) {
    const next = [...remainingDependencies.get(walk.at(-1)!)!].find((dependency) => remainingDependencies.has(dependency))!;
    const start = walk.indexOf(next);
    if (start >= 0) {
      const cycle = [...walk.slice(start), next];
      const first = byName.get(cycle[0]!)!;
      throw source.error(['stages', declarationIndex.get(first.declaration)!, 'inputs'], `${first.declaration}.inputs`, `cycle: ${cycle.join(' -> ')}`, 'remove one of these references so that data flows one way');
    }
    walk.push(next);
  }
}

function firstLineOf(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** The document's value; the yaml library refuses alias expansions that would blow up memory (billion laughs). */
function toPlainValue(document: Document, excessiveAliases: () => ConfigError): unknown {
  try {
    return document.toJS();
  } catch (error) {
    if (error instanceof ReferenceError && /alias/i.test(error.message)) throw excessiveAliases();
    throw error;
  }
}

interface OverrideValue {
  /** As typed: name=value. */
  readonly override: string;
  readonly path: string;
  readonly value: unknown;
}

/** What the YAML of a config and of its --set values says, as plain data: all that the rest of a parse reads. */
export interface ConfigData {
  readonly root: unknown;
  readonly overrides: readonly OverrideValue[];
}

/** Parses the YAML of a config text and of its --set values. Throws ConfigError. */
export function readConfigData(text: string, file: string, overrides: readonly string[] = []): ConfigData {
  const source = new Source(file, text);
  const { document } = source;
  const yamlError = document.errors[0];
  if (yamlError) throw new ConfigError(file, source.lineAt(yamlError.pos[0]), '(yaml)', yamlError.message.split('\n')[0]!, 'fix the YAML syntax at that line');
  const root = toPlainValue(document, () =>
    new ConfigError(file, 0, '(yaml)', 'its aliases (*name) expand to too many values (a YAML alias bomb?)', 'write the values out, or use aliases sparingly'),
  );
  return {
    root,
    overrides: overrides.map((override) => {
      const fail = (problem: string, fix: string) => new ConfigError('--set', 0, override, problem, fix);
      const equals = override.indexOf('=');
      if (equals <= 0) throw fail('expected name=value', 'write --set subset=100 or --set stage_name.param=value');
      const text = override.slice(equals + 1);
      const valueDocument = yaml().parseDocument(text);
      const valueError = valueDocument.errors[0];
      if (valueError) throw fail(`the value ${JSON.stringify(text)} is not YAML (${firstLineOf(valueError.message)})`, "write a YAML value: 3, word, [1, 2]; quote a string holding , [ ] { } or :");
      const value = toPlainValue(valueDocument, () => fail('the value expands YAML aliases too many times', 'write the value out without aliases'));
      return { override, path: override.slice(0, equals), value };
    }),
  };
}

/**
 * Parses, expands and validates a config text. Throws ConfigError. `data`, when given, is what
 * readConfigData returns for this text and these overrides (a ConfigMemo's copy).
 */
export function parsePipeline(
  text: string,
  file: string,
  registry: readonly AnyStage[],
  overrides: readonly string[] = [],
  data: ConfigData = readConfigData(text, file, overrides),
): Pipeline {
  const source = new Source(file, text);
  const { root } = data;
  if (!isPlainObject(root)) throw source.error([], '(top level)', 'expected a map with `params:` and `stages:`', 'start the file with `stages:`');
  for (const key of Object.keys(root)) {
    if (key !== 'params' && key !== 'stages') throw source.error([key], key, `unknown top-level key "${key}"`, suggest(key, ['params', 'stages'], 'top-level keys'));
  }
  const globalsValue = root.params ?? {};
  if (!isPlainObject(globalsValue)) throw source.error(['params'], 'params', `expected a map, got ${describeValue(globalsValue)}`, 'write global params as `name: value` lines');
  for (const name of Object.keys(globalsValue)) {
    if (!VARIABLE.test(name)) throw source.error(['params', name], `params.${name}`, `"${name}" is not a variable name`, 'use letters, digits and _ only');
  }
  const registryByName = new Map(registry.map((stage) => [stage.name, stage]));
  const declarations = readDeclarations(source, root.stages, registryByName);
  const declarationNames = new Set(declarations.map((declaration) => declaration.name));
  const { globalOverrides, stageOverrides } = applyOverrides(data.overrides, globalsValue, declarationNames);
  const globals = new Map(Object.entries({ ...globalsValue, ...globalOverrides }));

  const pending = new Map<string, PendingInstance>();
  for (const declaration of declarations) {
    for (const combination of expandMatrix(source, declaration, globals)) {
      const name = instanceName(declaration.name, combination);
      if (pending.has(name)) throw source.error(['stages', declaration.index, 'matrix'], `${declaration.name}.matrix`, `the matrix yields "${name}" twice`, 'remove the repeated value');
      const variables = new Map<string, unknown>([...globals, ...combination]);
      const rawParams = (declaration.raw.params ?? {}) as Record<string, unknown>;
      const interpolated = interpolate(rawParams, variables, source, ['stages', declaration.index, 'params'], `${declaration.name}.params`) as Record<string, unknown>;
      const setParams = stageOverrides.get(declaration.name) ?? {};
      const params = validateParams(declaration.stage, { ...interpolated, ...setParams }, new Set(Object.keys(setParams)), source, declaration.index, declaration.name);
      pending.set(name, { name, declaration, coordinates: combination, variables, params });
    }
  }

  const instances: StageInstance[] = [...pending.values()].map((instance) => {
    const inputs = resolveInputs(source, instance, pending, declarationNames);
    const dependencies = [...new Set(Object.values(inputs).flatMap((binding) => refsOf(binding).map((ref) => ref.instance)))];
    return {
      name: instance.name,
      declaration: instance.declaration.name,
      coordinates: Object.fromEntries(instance.coordinates),
      stage: instance.declaration.stage,
      params: instance.params,
      inputs,
      dependencies,
    };
  });
  const declarationIndex = new Map(declarations.map((declaration) => [declaration.name, declaration.index]));
  const sorted = sortTopologically(source, instances, declarationIndex);
  return { file, overrides: [...overrides], instances: sorted, byName: new Map(sorted.map((instance) => [instance.name, instance])) };
}

/** Keeps what readConfigData returned for a config text and its overrides, by configDataKey. */
export interface ConfigMemo {
  get(key: string): ConfigData | undefined;
  set(key: string, data: ConfigData): void;
}

/** Names the YAML parse of this text and these overrides by this version of the parser. */
export function configDataKey(text: string, overrides: readonly string[]): string {
  const parser = `yaml ${(require('yaml/package.json') as { version: string }).version}`;
  return createHash('sha256').update(JSON.stringify({ parser, text, overrides })).digest('hex');
}

/** True when JSON carries the value exactly (no NaN, Infinity or -0, only plain objects and arrays). */
function survivesJson(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0);
  if (Array.isArray(value)) return value.every(survivesJson);
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.entries(value).every(([key, entry]) => key !== '__proto__' && survivesJson(entry));
}

export function loadPipeline(file: string, registry: readonly AnyStage[], overrides: readonly string[] = [], memo?: ConfigMemo): Pipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, 0, '(file)', `cannot read the config: ${(error as Error).message}`, 'check the path (it is relative to the current directory)');
  }
  if (!memo) return parsePipeline(text, file, registry, overrides);
  const key = configDataKey(text, overrides);
  let data = memo.get(key);
  if (!data) {
    data = readConfigData(text, file, overrides);
    if (survivesJson(data.root) && data.overrides.every(({ value }) => survivesJson(value))) memo.set(key, data);
  }
  return parsePipeline(text, file, registry, overrides, data);
}
