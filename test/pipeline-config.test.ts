// Config parsing: matrix expansion, interpolation, references, overrides, and one test per user error.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../pipeline/cli-app.js';
import { ConfigError, parsePipeline } from '../pipeline/config.js';
import type { AnyStage } from '../pipeline/stage.js';
import { testStages, temporaryFolder } from './fixtures/pipeline/helpers.js';

const fixtures = join(import.meta.dirname, 'fixtures/pipeline');
const chain = readFileSync(join(fixtures, 'chain.yaml'), 'utf8');

describe('config expansion', () => {
  const pipeline = parsePipeline(chain, 'chain.yaml', testStages);

  it('expands a matrix into named instances, keys in declared order, in a topological order', () => {
    expect(pipeline.instances.map((instance) => instance.name)).toEqual([
      'seed',
      'grow@branch=a,k=1',
      'grow@branch=a,k=2',
      'grow@branch=a,k=3',
      'grow@branch=b,k=1',
      'grow@branch=b,k=2',
      'grow@branch=b,k=3',
      'other',
      'sum',
      'crunch',
    ]);
  });

  it('interpolates globals and matrix variables, keeping the type of a whole "${x}", applying defaults', () => {
    expect(pipeline.byName.get('seed')!.params).toEqual({ value: 10, sleep_ms: 0, tag: '' });
    expect(pipeline.byName.get('grow@branch=b,k=2')!.params).toEqual({ value: 2, sleep_ms: 0, tag: 'grow-b' });
  });

  it('binds the first existing alternative: step k reads step k-1, step 1 reads the seed', () => {
    expect(pipeline.byName.get('grow@branch=a,k=1')!.inputs.previous).toEqual({ many: false, ref: { instance: 'seed', output: 'numbers' } });
    expect(pipeline.byName.get('grow@branch=a,k=3')!.inputs.previous).toEqual({ many: false, ref: { instance: 'grow@branch=a,k=2', output: 'numbers' } });
  });

  it('binds a glob to a many input as every matching instance', () => {
    const parts = pipeline.byName.get('sum')!.inputs.parts;
    expect(parts?.many && parts.refs.map((ref) => ref.instance)).toEqual(pipeline.instances.filter((instance) => instance.declaration === 'grow').map((instance) => instance.name));
  });

  it('binds a list of globs to a many input as the union of their matches, and rejects a listed glob that matches nothing', () => {
    const union = `
stages:
  - { name: a, uses: step, matrix: { k: [1, 2] }, params: { value: "\${k}" } }
  - { name: b, uses: step, matrix: { m: [x] }, params: { value: 3 } }
  - { name: all, uses: total, inputs: { parts: ["a@*.numbers", "b@*.numbers", "a@k=1.numbers"] } }
`;
    const parts = parsePipeline(union, 'union.yaml', testStages).byName.get('all')!.inputs.parts;
    expect(parts?.many && parts.refs.map((ref) => ref.instance)).toEqual(['a@k=1', 'a@k=2', 'b@m=x']);
    expect(() => parsePipeline(union.replace('"b@*.numbers"', '"b@m=y.numbers"'), 'union.yaml', testStages)).toThrow(/no instance matches "b@m=y\.numbers"/);
  });

  it('applies --set to globals (re-expanding the matrix) and to one stage', () => {
    const overridden = parsePipeline(chain, 'chain.yaml', testStages, ['ks=[1]', 'base=3', 'other.value=8', 'other.tag=x']);
    expect(overridden.instances.map((instance) => instance.name)).toEqual(['seed', 'grow@branch=a,k=1', 'grow@branch=b,k=1', 'other', 'sum', 'crunch']);
    expect(overridden.byName.get('seed')!.params.value).toBe(3);
    expect(overridden.byName.get('other')!.params).toEqual({ value: 8, sleep_ms: 0, tag: 'x' });
  });

  it('leaves an unset optional param out of the params (and so of the key), and validates it when set', () => {
    const step = testStages.find((stage) => stage.name === 'step')!;
    const extended = { ...step, params: { ...step.params, weight: { type: 'number', min: 0, optional: true, description: 'an added knob' } } } as AnyStage;
    const stages = testStages.map((stage) => (stage === step ? extended : stage));
    const unset = parsePipeline(chain, 'chain.yaml', stages);
    expect(unset.byName.get('seed')!.params).toEqual(pipeline.byName.get('seed')!.params);
    expect('weight' in unset.byName.get('seed')!.params).toBe(false);
    expect(parsePipeline(chain, 'chain.yaml', stages, ['seed.weight=0.5']).byName.get('seed')!.params.weight).toBe(0.5);
    expect(() => parsePipeline(chain, 'chain.yaml', stages, ['seed.weight=-1'])).toThrow(/seed\.weight: .*-1/);
  });

  it('rejects a --set of an unknown global or stage', () => {
    expect(() => parsePipeline(chain, 'chain.yaml', testStages, ['bsae=3'])).toThrow(/there is no global param "bsae"[\s\S]*did you mean "base"/);
    expect(() => parsePipeline(chain, 'chain.yaml', testStages, ['othr.value=3'])).toThrow(/there is no stage named "othr"[\s\S]*did you mean "other"/);
    expect(() => parsePipeline(chain, 'chain.yaml', testStages, ['other.value=seven'])).toThrow(/^--set: other\.value: expected an integer, got "seven" \(string\)/);
    expect(() => parsePipeline(chain, 'chain.yaml', testStages, ['other.vlaue=7'])).toThrow(/^--set: other\.vlaue: stage type "step" has no param "vlaue"\n {2}fix: did you mean "value"/);
  });
});

describe('config errors: one message with file, line, key and fix; exit code 2; nothing runs', () => {
  const cases: { file: string; line: number; key: string; problem: RegExp; fix: RegExp }[] = [
    { file: 'unknown-stage-type', line: 3, key: 'a.uses', problem: /unknown stage type "stepp"/, fix: /did you mean "step"/ },
    { file: 'unknown-param', line: 6, key: 'a.params.valeu', problem: /stage type "step" has no param "valeu"/, fix: /did you mean "value"/ },
    { file: 'missing-param', line: 4, key: 'a.params.value', problem: /missing required param "value"/, fix: /add `value: <integer>` under params/ },
    { file: 'mistyped-param', line: 7, key: 'a.params.value', problem: /expected an integer, got "ten" \(string\)/, fix: /set value to a value of type integer \(value appended\)/ },
    { file: 'dangling-reference', line: 9, key: 'b.inputs.previous', problem: /dangling reference: no instance matches "a@k=3.numbers"/, fix: /reference an existing instance \(a, b\)/ },
    { file: 'unknown-reference-stage', line: 10, key: 'b.inputs.previous', problem: /"bb@k=0.numbers" refers to "bb", which is not a stage of this config/, fix: /did you mean "b"/ },
    { file: 'unknown-output', line: 9, key: 'b.inputs.previous', problem: /stage type "step" \(instance a\) has no output "numbrs"/, fix: /did you mean "numbers"/ },
    { file: 'kind-mismatch', line: 9, key: 'b.inputs.previous', problem: /input kind mismatch: "previous" takes a json, but a.table is a table/, fix: /bind an output of kind json/ },
    { file: 'cycle', line: 5, key: 'a.inputs', problem: /cycle: a -> c -> b -> a/, fix: /remove one of these references/ },
    { file: 'duplicate-name', line: 5, key: 'a.name', problem: /duplicate stage name "a"/, fix: /rename one of the two stages/ },
    { file: 'unknown-variable', line: 6, key: 'a.params.value', problem: /unknown variable \$\{bsae\}/, fix: /did you mean "base"/ },
    { file: 'glob-into-single', line: 9, key: 'b.inputs.previous', problem: /input "previous" takes one artifact, but the glob "a@\*"/, fix: /reference a single instance/ },
    { file: 'yaml-syntax', line: 5, key: '(yaml)', problem: /./, fix: /fix the YAML syntax/ },
  ];

  for (const { file, line, key, problem, fix } of cases) {
    it(file, async () => {
      const folder = temporaryFolder();
      try {
        const config = relative(process.cwd(), join(fixtures, 'errors', `${file}.yaml`));
        let stderr = '';
        const cacheDir = join(folder.path, 'cache');
        const code = await runCli(['run', config, '--cache-dir', cacheDir], {
          stages: testStages,
          commands: [],
          stdout: { write: () => true },
          stderr: { write: (text: string) => (stderr += text) },
        });
        expect(code).toBe(2);
        const [first, second] = stderr.trim().split('\n');
        expect(first).toMatch(new RegExp(`^error: ${config.replace(/[.]/g, '\\.')}:${line}: ${key.replace(/[.()]/g, '\\$&')}: `));
        expect(first).toMatch(problem);
        expect(second).toMatch(/^ {2}fix: /);
        expect(second).toMatch(fix);
        expect(existsSync(cacheDir)).toBe(false);
      } finally {
        folder.remove();
      }
    });
  }

  it('is a ConfigError carrying its parts', () => {
    const error = (() => {
      try {
        parsePipeline(readFileSync(join(fixtures, 'errors/cycle.yaml'), 'utf8'), 'cycle.yaml', testStages);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ file: 'cycle.yaml', line: 5, key: 'a.inputs' });
  });
});
