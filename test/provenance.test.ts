import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { projectCommit } from '../pipeline/provenance.js';

describe('projectCommit', () => {
  const home = process.cwd();
  const folders: string[] = [];
  afterEach(() => {
    process.chdir(home);
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  it("is HEAD as git prints it, dirty when a tracked file differs; untracked files don't count; none outside a work tree or before the first commit", async () => {
    const folder = mkdtempSync(join(tmpdir(), 'passeurs-provenance-'));
    folders.push(folder);
    process.chdir(folder);
    expect(await projectCommit()).toBeUndefined();
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.org', ...args], { encoding: 'utf8' }).trim();
    git('init', '--quiet');
    expect(await projectCommit()).toBeUndefined();
    writeFileSync(join(folder, 'tracked.txt'), 'one\n');
    git('add', 'tracked.txt');
    git('commit', '--quiet', '-m', 'first');
    const head = git('rev-parse', 'HEAD');
    writeFileSync(join(folder, 'untracked.txt'), 'not added\n');
    expect(await projectCommit()).toEqual({ commit: head, dirty: false });
    writeFileSync(join(folder, 'tracked.txt'), 'two\n');
    expect(await projectCommit()).toEqual({ commit: head, dirty: true });
  });
});
