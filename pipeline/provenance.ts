// What the history records about the code a run used, beyond the stages' versions: the git
// commit of the project in the current directory, and whether tracked files differed from it.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function git(args: readonly string[]): Promise<string | undefined> {
  try {
    return (await run('git', args, { encoding: 'utf8', timeout: 10_000 })).stdout;
  } catch {
    return undefined;
  }
}

/** The HEAD commit and dirtiness of the git work tree around the current directory; undefined outside one (or without git). */
export async function projectCommit(): Promise<{ commit: string; dirty: boolean } | undefined> {
  // Both at once: a run waits for the slower of the two, not their sum.
  const [head, changes] = await Promise.all([git(['rev-parse', '--verify', '--quiet', 'HEAD']), git(['status', '--porcelain', '--untracked-files=no'])]);
  const commit = head?.trim();
  if (!commit) return undefined;
  return { commit, dirty: changes === undefined || changes.trim() !== '' };
}
