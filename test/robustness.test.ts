// Bad inputs and damaged caches: each gives its exit code and one message naming the file or key
// with a fix, never a stack trace, and writes nothing to the cache; the pipeline deletes only what it made.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeParts } from '../cache/store.js';
import { exportArtifact } from '../commands/export.js';
import { featureSetToTable } from '../data/tables.js';
import { makeScratchFolder } from '../data/scratch.js';
import { readLiblinearModel } from '../numerics/svm/liblinear-format.js';
import { openCache } from '../pipeline/cache-handle.js';
import { runCli } from '../pipeline/cli-app.js';
import { loadPipeline } from '../pipeline/config.js';
import { runPipeline } from '../pipeline/engine.js';
import { defineStage, type AnyStage } from '../pipeline/stage.js';
import { Workspace } from '../pipeline/workspace.js';
import { testStages, temporaryFolder } from './fixtures/pipeline/helpers.js';

const root = join(import.meta.dirname, '..');
const diamond = join(root, 'test/fixtures/pipeline/diamond.yaml');

const folders: ReturnType<typeof temporaryFolder>[] = [];
function folder(): string {
  const created = temporaryFolder();
  folders.push(created);
  return created.path;
}
afterEach(() => {
  for (const created of folders.splice(0)) created.remove();
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stages: testStages,
    commands: [],
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

/** The error printed: one line, no stack trace. */
function oneErrorLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  return lines[0]!;
}

/** Every file under `dir`, relative, with its size: what "nothing written" is checked against. */
function snapshot(dir: string): Record<string, number> {
  const files: Record<string, number> = {};
  const walk = (relative: string) => {
    for (const name of readdirSync(join(dir, relative))) {
      const path = join(relative, name);
      if (statSync(join(dir, path)).isDirectory()) walk(path);
      else files[path] = statSync(join(dir, path)).size;
    }
  };
  walk('');
  return files;
}

function objectFiles(cacheDir: string): string[] {
  return Object.keys(snapshot(join(cacheDir, 'objects'))).map((path) => join(cacheDir, 'objects', path));
}

/** A cache with the diamond computed (11 artifacts). */
async function computedCache(): Promise<string> {
  const cacheDir = join(folder(), 'cache');
  expect((await cli('run', diamond, '--cache-dir', cacheDir)).code).toBe(0);
  return cacheDir;
}

function damageInPlace(path: string): void {
  chmodSync(path, 0o644);
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(path, bytes);
}

describe('writing an object', () => {
  it('writes every part whole when the file takes fewer bytes per write than asked', async () => {
    const written: number[] = [];
    const stingy = {
      write: async (buffer: Uint8Array, offset = 0, length = buffer.byteLength) => {
        const taken = Math.min(7, length);
        written.push(...buffer.subarray(offset, offset + taken));
        return { bytesWritten: taken, buffer };
      },
    };
    const parts = [new Uint8Array(0), Uint8Array.from({ length: 5 }, (_, i) => i), Uint8Array.from({ length: 23 }, (_, i) => 100 + i), Uint8Array.of(255)];
    await writeParts(stingy as never, parts);
    expect(written).toEqual([...Buffer.concat(parts)]);
    const stuck = { write: async (buffer: Uint8Array) => ({ bytesWritten: 0, buffer }) };
    await expect(writeParts(stuck as never, [Uint8Array.of(1)])).rejects.toThrow('a write took no bytes (1 left)');
  });
});

describe('the cache folder', () => {
  it('refuses a folder that is not a cache, leaving its tmp/ alone and writing nothing there', async () => {
    const userFolder = folder();
    mkdirSync(join(userFolder, 'tmp'));
    writeFileSync(join(userFolder, 'tmp/keep.txt'), 'mine');
    writeFileSync(join(userFolder, 'notes.md'), 'mine too');
    const before = snapshot(userFolder);
    for (const command of [['gc'], ['gc', '--keep-runs', '0', '--yes'], ['verify'], ['run', diamond], ['status', diamond], ['history']]) {
      const result = await cli(...command, '--cache-dir', userFolder);
      expect(result.code, command.join(' ')).toBe(2);
      expect(oneErrorLine(result.stderr)).toMatch(new RegExp(`^error: ${userFolder}: not a passeurs cache .*; fix: name a new or empty folder with --cache-dir`));
    }
    expect(snapshot(userFolder)).toEqual(before);
  });

  it('refuses a --cache-dir that names a file', async () => {
    const file = join(folder(), 'cache.txt');
    writeFileSync(file, 'not a folder');
    const result = await cli('run', diamond, '--cache-dir', file);
    expect(result.code).toBe(2);
    expect(oneErrorLine(result.stderr)).toBe(`error: ${file}: is a file, not a cache folder; fix: name a folder with --cache-dir or $PASSEURS_CACHE (a new one is created)`);
    expect(readFileSync(file, 'utf8')).toBe('not a folder');
  });

  it('marks a new cache, and adopts a cache made before the mark existed', async () => {
    const cacheDir = await computedCache();
    const tag = join(cacheDir, 'CACHEDIR.TAG');
    expect(readFileSync(tag, 'utf8')).toMatch(/^Signature: 8a477f597d28d172789f06886806bc55\n.*passeurs pipeline cache/);
    rmSync(tag);
    expect((await cli('status', diamond, '--cache-dir', cacheDir)).stdout).toMatch(/^all 6 fresh$/m);
    expect(existsSync(tag)).toBe(false);
    expect((await cli('run', diamond, '--cache-dir', cacheDir)).stdout).toMatch(/0 ran, 6 cached/);
    expect(existsSync(tag)).toBe(true);
  });

  it('read-only commands create nothing where there is no cache', async () => {
    const cacheDir = join(folder(), 'none');
    expect((await cli('status', diamond, '--cache-dir', cacheDir)).stdout).toMatch(/^0 fresh, 6 stale$/m);
    expect((await cli('run', diamond, '--dry-run', '--cache-dir', cacheDir)).code).toBe(0);
    expect((await cli('history', '--cache-dir', cacheDir)).stdout).toBe('no runs recorded in this cache\n');
    expect((await cli('compare', '1', '2', '--cache-dir', cacheDir)).code).toBe(2);
    expect((await cli('show', 'a', diamond, '--cache-dir', cacheDir)).stderr).toMatch(/a is not computed for the current config/);
    expect((await cli('gc', '--cache-dir', cacheDir)).stdout).toMatch(/^removed 0 files/);
    expect((await cli('verify', '--cache-dir', cacheDir)).stdout).toMatch(/verified 0 artifacts: all intact/);
    expect(existsSync(cacheDir)).toBe(false);
  });
});

describe('gc', () => {
  it('--keep-runs 0 asks for --yes; with it, removes every artifact and counts what it removed', async () => {
    const cacheDir = await computedCache();
    const before = objectFiles(cacheDir);
    expect(before).toHaveLength(11);
    const refused = await cli('gc', '--keep-runs', '0', '--cache-dir', cacheDir);
    expect(refused.code).toBe(2);
    expect(oneErrorLine(refused.stderr)).toMatch(/--keep-runs 0 removes every result and artifact of the cache .*; add --yes to confirm/);
    expect(objectFiles(cacheDir)).toEqual(before);
    expect((await cli('gc', '--keep-runs', 'none', '--cache-dir', cacheDir)).stderr).toBe('error: --keep-runs none: expected a whole number of at least 0\n');
    const bytes = before.reduce((total, path) => total + statSync(path).size, 0);
    const removed = await cli('gc', '--keep-runs', '0', '--yes', '--json', '--cache-dir', cacheDir);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ keptResults: 0, removedResults: 6, removedFiles: 11, freedBytes: bytes });
    expect(objectFiles(cacheDir)).toEqual([]);
  });

  it('leaves a stray file in objects/ alone; verify names it', async () => {
    const cacheDir = await computedCache();
    const strays = [join(cacheDir, 'objects/README'), join(cacheDir, 'objects', readdirSync(join(cacheDir, 'objects'))[0]!, 'copy.txt')];
    for (const stray of strays) writeFileSync(stray, 'put here by hand');
    const gc = await cli('gc', '--keep-runs', '1', '--cache-dir', cacheDir);
    expect(gc).toMatchObject({ code: 0, stdout: 'removed 0 files (0.0 MB) and 0 results; kept 6 results\n' });
    for (const stray of strays) expect(existsSync(stray)).toBe(true);
    const verify = await cli('verify', '--cache-dir', cacheDir);
    expect(verify.code).toBe(0);
    for (const stray of strays) expect(verify.stdout).toContain(`not an artifact (left alone): ${stray}\n`);
    expect(verify.stdout).toMatch(/verified 11 artifacts: all intact\n$/);
  });
});

describe('configs and options', () => {
  it('a --set value that is not YAML names the override and says how to write one', async () => {
    const result = await cli('run', diamond, '--set', 'base=[1,2', '--cache-dir', join(folder(), 'cache'));
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: --set: base=[1,2: the value "[1,2" is not YAML (Flow sequence must end with a ])\n  fix: write a YAML value: 3, word, [1, 2]; quote a string holding , [ ] { } or :\n');
  });

  it('--jobs that is not a whole number, or has no value, is a usage error that says what was typed', async () => {
    const cacheDir = join(folder(), 'cache');
    expect(await cli('run', diamond, '--jobs', 'abc', '--cache-dir', cacheDir)).toMatchObject({ code: 2, stderr: 'error: --jobs abc: expected a whole number of at least 1\n' });
    expect(await cli('run', diamond, '--jobs', '0', '--cache-dir', cacheDir)).toMatchObject({ code: 2, stderr: 'error: --jobs 0: expected a whole number of at least 1\n' });
    expect(await cli('run', diamond, '--cache-dir', cacheDir, '--jobs')).toMatchObject({ code: 2, stderr: 'error: Not enough arguments following: jobs\n(see `pipeline --help`)\n' });
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('a YAML alias bomb in a config is refused in one message, quickly', async () => {
    const dir = folder();
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 9; level++) {
      const [name, previous] = [String.fromCharCode(97 + level), String.fromCharCode(96 + level)];
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    const config = join(dir, 'bomb.yaml');
    writeFileSync(config, `params:\n  ${levels.join('\n  ')}\nstages: []\n`);
    const started = Date.now();
    const result = await cli('run', config, '--cache-dir', join(dir, 'cache'));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`error: ${config}: (yaml): its aliases (*name) expand to too many values (a YAML alias bomb?)\n  fix: write the values out, or use aliases sparingly\n`);
    expect(existsSync(join(dir, 'cache'))).toBe(false);
  });
});

describe('a damaged cache', () => {
  for (const [damage, write] of [
    ['garbage', (path: string) => writeFileSync(path, Buffer.alloc(20_000, 'not sqlite '))],
    ['truncated', (path: string) => writeFileSync(path, readFileSync(path).subarray(0, 8192))],
  ] as const) {
    it(`history.db ${damage}: named with a way back (verify --reset-history), which keeps the artifacts`, async () => {
      const cacheDir = await computedCache();
      // Fold the WAL into history.db, so that damaging the file damages the whole history.
      expect((await cli('verify', '--cache-dir', cacheDir)).code).toBe(0);
      for (const suffix of ['-wal', '-shm']) rmSync(join(cacheDir, `history.db${suffix}`), { force: true });
      const history = join(cacheDir, 'history.db');
      write(history);
      const objects = snapshot(join(cacheDir, 'objects'));
      for (const command of [['status', diamond], ['run', diamond], ['history'], ['gc'], ['verify']]) {
        const result = await cli(...command, '--cache-dir', cacheDir);
        expect(result.code, command.join(' ')).toBe(2);
        expect(oneErrorLine(result.stderr)).toMatch(new RegExp(`^error: ${history}: is damaged \\(.*\\); fix: run \`pipeline verify --reset-history\``));
      }
      expect(snapshot(join(cacheDir, 'objects'))).toEqual(objects);
      const reset = await cli('verify', '--reset-history', '--cache-dir', cacheDir);
      expect(reset.code).toBe(0);
      expect(reset.stderr).toMatch(/^set the run history aside as .*history\.db\.damaged-[\dTZ-]+; a fresh one starts now$/m);
      expect(reset.stdout).toMatch(/verified 11 artifacts: all intact; 11 intact but used by no recorded result/);
      expect(readdirSync(cacheDir).filter((name) => name.startsWith('history.db.damaged-'))).toHaveLength(1);
      expect(snapshot(join(cacheDir, 'objects'))).toEqual(objects);
      expect((await cli('run', diamond, '--cache-dir', cacheDir)).stdout).toMatch(/6 ran, 0 cached/);
      expect((await cli('verify', '--cache-dir', cacheDir)).stdout).toBe('verified 11 artifacts: all intact\n');
    });
  }

  it('history.db damaged inside, header and size intact: the commands that read it name it, as verify does', async () => {
    const cacheDir = await computedCache();
    expect((await cli('verify', '--cache-dir', cacheDir)).code).toBe(0);
    for (const suffix of ['-wal', '-shm']) rmSync(join(cacheDir, `history.db${suffix}`), { force: true });
    const history = join(cacheDir, 'history.db');
    // Every page but the first (the header and the schema) overwritten: SQLite opens the file.
    const bytes = readFileSync(history);
    const pageSize = bytes.readUInt16BE(16);
    expect(bytes.length).toBeGreaterThan(2 * pageSize);
    bytes.fill('damaged ', pageSize);
    writeFileSync(history, bytes);
    for (const command of [['verify'], ['history'], ['run', diamond]]) {
      const result = await cli(...command, '--cache-dir', cacheDir);
      expect(result.code, command.join(' ')).toBe(2);
      // verify has announced itself on stderr before it reads the history.
      expect(oneErrorLine(result.stderr.replace(/^started +verify\n/, ''))).toMatch(new RegExp(`^error: ${history}: is damaged \\(.*\\); fix: run \`pipeline verify --reset-history\``));
    }
  });

  it('lock.db that is garbage or a folder: named, with the fix', async () => {
    const cacheDir = await computedCache();
    const lock = join(cacheDir, 'lock.db');
    writeFileSync(lock, Buffer.alloc(4096, 'garbage '));
    const garbage = await cli('run', diamond, '--cache-dir', cacheDir);
    expect(garbage.code).toBe(2);
    expect(oneErrorLine(garbage.stderr)).toMatch(new RegExp(`^error: ${lock}: is damaged \\(.*\\); fix: make sure no pipeline uses this cache, then delete it`));
    rmSync(lock);
    mkdirSync(lock);
    const folderLock = await cli('gc', '--cache-dir', cacheDir);
    expect(folderLock.code).toBe(2);
    expect(oneErrorLine(folderLock.stderr)).toBe(`error: ${lock}: is not a file, so it cannot hold the cache lock; fix: make sure no pipeline uses this cache, then delete it (it holds no data; the next command recreates it)`);
    rmSync(lock, { recursive: true });
    expect((await cli('run', diamond, '--cache-dir', cacheDir)).code).toBe(0);
  });

  it('an artifact changed at the same size: show and the workspace name the file and point to verify', async () => {
    const cacheDir = await computedCache();
    const shown = JSON.parse((await cli('show', 'b@k=2', diamond, '--json', '--cache-dir', cacheDir)).stdout) as { outputs: { output: string; path: string }[] };
    const table = shown.outputs.find((output) => output.output === 'table')!.path;
    damageInPlace(table);
    const result = await cli('show', 'b@k=2', diamond, '--cache-dir', cacheDir);
    expect(result.code).toBe(2);
    expect(oneErrorLine(result.stderr)).toBe(
      `error: ${table}: damaged: its bytes no longer match the sha256 it is named by; fix: run \`pipeline verify\` (it deletes damaged artifacts; the next run recomputes them)`,
    );
    const workspace = Workspace.open({ config: diamond, stages: testStages, cacheDir });
    try {
      await expect(workspace.load('b@k=2', 'table')).rejects.toThrow(`${table}: damaged`);
    } finally {
      workspace.close();
    }
  });

  it('verify with a lost history still re-hashes every object on disk, by the hash in its name', async () => {
    const cacheDir = await computedCache();
    const damaged = objectFiles(cacheDir).find((path) => path.endsWith('.arrow'))!;
    damageInPlace(damaged);
    for (const file of ['history.db', 'history.db-wal', 'history.db-shm']) rmSync(join(cacheDir, file), { force: true });
    const result = await cli('verify', '--json', '--cache-dir', cacheDir);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ checked: 11, unreferenced: 10, corrupt: [{ path: damaged, forgottenResults: 0 }] });
    expect(existsSync(damaged)).toBe(false);
  });
});

describe('export --out', () => {
  const features = defineStage({
    name: 'tiny-features',
    version: 1,
    description: 'three labelled 2-d feature vectors',
    params: {},
    inputs: {},
    outputs: { features: { kind: 'table', description: 'a feature set' } },
    async run() {
      const set = { count: 3, dimension: 2, labels: Uint8Array.of(0, 1, 0), features: Float32Array.of(1, 0, 0, 2, 0.5, 0.25), classes: ['a', 'b'], description: {} };
      return { features: featureSetToTable(set) };
    },
  });
  const registry: AnyStage[] = [...testStages, features];

  it('refuses a folder, a missing folder, an existing file (without --force) and the cache; leaves no temporary file', async () => {
    const dir = folder();
    const config = join(dir, 'features.yaml');
    writeFileSync(config, 'stages:\n  - { name: f, uses: tiny-features }\n  - { name: s, uses: step, params: { value: 1 } }\n');
    const cacheDir = join(dir, 'cache');
    const cache = openCache(cacheDir);
    try {
      expect((await runPipeline(cache, loadPipeline(config, registry))).status).toBe('succeeded');
    } finally {
      cache.close();
    }
    const request = { reference: 'f.features', config, format: 'libsvm' as const, cacheDir };
    const out = join(dir, 'out/features.libsvm');
    await expect(exportArtifact({ ...request, out }, registry)).rejects.toThrow(`--out ${out}: the folder ${join(dir, 'out')} does not exist; create it first, or write elsewhere`);
    mkdirSync(join(dir, 'out'));
    await expect(exportArtifact({ ...request, out: join(dir, 'out') }, registry)).rejects.toThrow(`--out ${join(dir, 'out')} is a folder; give a file name`);
    await expect(exportArtifact({ ...request, out: '/dev/null', force: true }, registry)).rejects.toThrow('--out /dev/null is not a regular file');
    await expect(exportArtifact({ ...request, out: join(cacheDir, 'objects/features.libsvm') }, registry)).rejects.toThrow(/lies inside the cache .*, which only the pipeline writes/);
    await expect(exportArtifact({ ...request, out: join(cacheDir, 'features.libsvm') }, registry)).rejects.toThrow(/lies inside the cache/);
    await exportArtifact({ ...request, out }, registry);
    expect(readFileSync(out, 'utf8')).toBe('0 1:1\n1 2:2\n0 1:0.5 2:0.25\n');
    writeFileSync(out, 'my own file');
    await expect(exportArtifact({ ...request, out }, registry)).rejects.toThrow(`--out ${out} exists; add --force to replace it, or choose another name`);
    expect(readFileSync(out, 'utf8')).toBe('my own file');
    await exportArtifact({ ...request, out, force: true }, registry);
    expect(readFileSync(out, 'utf8')).toBe('0 1:1\n1 2:2\n0 1:0.5 2:0.25\n');
    // A table that is not a feature set fails after loading: nothing is left beside --out.
    await expect(exportArtifact({ ...request, reference: 's.table', out: join(dir, 'out/numbers.libsvm') }, registry)).rejects.toThrow();
    expect(readdirSync(join(dir, 'out'))).toEqual(['features.libsvm']);
    expect(readdirSync(cacheDir).filter((name) => name.includes('libsvm'))).toEqual([]);
  });
});

describe('the LIBLINEAR model reader given another file', () => {
  it('names the file and quotes at most a short prefix of it', () => {
    const secret = `secret-token-${'x'.repeat(200)}\nsecond line of a private file\n`;
    let message = '';
    try {
      readLiblinearModel(secret, { file: 'notes/private.txt' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe('notes/private.txt: not a liblinear-train model file: it starts with "secret-token-xxxxxxxxxxx...", not solver_type (train one with liblinear-train -s 1 or -s 2)');
    const photo = readFileSync(join(root, 'test/fixtures/imagenet/bird.rgb'));
    expect(() => readLiblinearModel(photo.toString('utf8'), { file: 'bird.rgb' })).toThrow(/^bird\.rgb: not a liblinear-train model file: it starts with "[^"]{1,160}", not solver_type/);
    expect(() => readLiblinearModel(`solver_type L2R_L2LOSS_SVC\nnr_class 2\nlabel 0 1\nnr_feature 99999999999\nbias -1\nw\n0.5\n`, { file: 'm' })).toThrow(
      'm: nr_feature 99999999999 needs 99999999999 weights; the file has 13 words in all',
    );
  });
});

describe('scratch folders of a killed download', () => {
  it('the next download removes what a process killed with SIGKILL left, and keeps a live one', async () => {
    const parent = folder();
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { makeScratchFolder } from ${JSON.stringify(join(root, 'dist/data/scratch.js'))};
         import { writeFileSync } from 'node:fs';
         const dir = await makeScratchFolder('passeurs-cifar10', ${JSON.stringify(parent)});
         writeFileSync(dir + '/tarball.tgz', Buffer.alloc(1 << 20));
         console.log(dir);
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const leftBehind = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    expect(existsSync(join(leftBehind, 'tarball.tgz'))).toBe(true);
    const alive = join(parent, `passeurs-cifar10-${process.ppid}-abc123`);
    const unrelated = join(parent, 'passeurs-cifar10-notes');
    for (const path of [alive, unrelated]) mkdirSync(path);
    const mine = await makeScratchFolder('passeurs-cifar10', parent);
    expect(mine).toMatch(new RegExp(`passeurs-cifar10-${process.pid}-[A-Za-z0-9]{6}$`));
    expect(existsSync(leftBehind)).toBe(false);
    expect(readdirSync(parent).sort()).toEqual([alive, mine, unrelated].map((path) => path.slice(parent.length + 1)).sort());
  });
});
