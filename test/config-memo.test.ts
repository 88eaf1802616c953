// The memo of config parses (pipeline/config-memo.ts): a config read again is the same pipeline,
// errors found after a memo hit still name their line, and an entry that does not match its hash
// is ignored.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCache } from '../pipeline/cache-handle.js';
import { configDataKey, loadPipeline, type Pipeline } from '../pipeline/config.js';
import { clearConfigMemo, configMemoIn } from '../pipeline/config-memo.js';
import { testStages, temporaryFolder, writeConfig } from './fixtures/pipeline/helpers.js';

const chain = readFileSync(join(import.meta.dirname, 'fixtures/pipeline/chain.yaml'), 'utf8');
const shape = (pipeline: Pipeline) => pipeline.instances.map(({ name, params, inputs, dependencies, coordinates }) => ({ name, params, inputs, dependencies, coordinates }));

describe('config memo', () => {
  let folder: ReturnType<typeof temporaryFolder>;
  let cacheDir: string;
  beforeEach(() => {
    folder = temporaryFolder();
    cacheDir = join(folder.path, 'cache');
    openCache(cacheDir, 'write').close();
  });
  afterEach(() => folder.remove());
  const entries = () => readdirSync(join(cacheDir, 'configs'));

  it('gives the same pipeline from the memo as from the YAML, one entry per text and overrides', () => {
    const config = writeConfig(folder.path, 'chain.yaml', chain);
    const plain = loadPipeline(config, testStages, ['base=3']);
    const first = loadPipeline(config, testStages, ['base=3'], configMemoIn(cacheDir));
    const again = loadPipeline(config, testStages, ['base=3'], configMemoIn(cacheDir));
    expect(shape(first)).toEqual(shape(plain));
    expect(shape(again)).toEqual(shape(plain));
    expect(entries()).toEqual([`${configDataKey(chain, ['base=3'])}.json`]);
    loadPipeline(config, testStages, ['base=4'], configMemoIn(cacheDir));
    expect(entries()).toHaveLength(2);
  });

  it('reads a hit from the memo, not from the YAML; ignores and rewrites an entry that does not match its hash', () => {
    const config = writeConfig(folder.path, 'chain.yaml', chain);
    loadPipeline(config, testStages, [], configMemoIn(cacheDir));
    const file = join(cacheDir, 'configs', entries()[0]!);
    const entry = JSON.parse(readFileSync(file, 'utf8'));
    entry.data.root.params.base = 41;
    writeFileSync(file, JSON.stringify(entry));
    expect(loadPipeline(config, testStages, [], configMemoIn(cacheDir)).byName.get('seed')!.params.value).toBe(10);
    expect(JSON.parse(readFileSync(file, 'utf8')).data.root.params.base).toBe(10);
    // An entry whose hash matches is what the parse returns: the memo is as trusted as history.db.
    entry.dataHash = createHash('sha256').update(JSON.stringify(entry.data)).digest('hex');
    writeFileSync(file, JSON.stringify(entry));
    expect(loadPipeline(config, testStages, [], configMemoIn(cacheDir)).byName.get('seed')!.params.value).toBe(41);
  });

  it('names the line of an error found after a hit, as without the memo', () => {
    const text = chain.replace('value: "${base}"', 'value: "${bsae}"');
    expect(text).not.toBe(chain);
    const config = writeConfig(folder.path, 'typo.yaml', text);
    const messageOf = (memo: boolean) => {
      try {
        loadPipeline(config, testStages, [], memo ? configMemoIn(cacheDir) : undefined);
      } catch (error) {
        return (error as Error).message;
      }
      return 'no error';
    };
    const expected = messageOf(false);
    expect(expected).toMatch(/typo\.yaml:\d+: .*unknown variable \$\{bsae\}/);
    expect(messageOf(true)).toBe(expected);
    expect(entries()).toHaveLength(1);
    expect(messageOf(true)).toBe(expected);
  });

  it('keeps nothing that JSON would change (.inf), and nothing for a cache folder that does not exist', () => {
    const config = writeConfig(folder.path, 'chain.yaml', chain.replace('params:', 'params:\n  unused: .inf'));
    expect(loadPipeline(config, testStages, [], configMemoIn(cacheDir)).instances.length).toBeGreaterThan(0);
    expect(() => entries()).toThrow(/ENOENT/);
    expect(configMemoIn(join(folder.path, 'missing'))).toBeUndefined();
  });

  it('is emptied by clearConfigMemo', () => {
    loadPipeline(writeConfig(folder.path, 'chain.yaml', chain), testStages, [], configMemoIn(cacheDir));
    expect(entries()).toHaveLength(1);
    clearConfigMemo(cacheDir);
    expect(() => entries()).toThrow(/ENOENT/);
  });
});
