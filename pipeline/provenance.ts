// What the history records about the code a run used, beyond the stages' versions: the git
// commit of the project in the current directory, and whether tracked files differed from it.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The HEAD commit and dirtiness of the git work tree around the current directory; undefined outside one, before its first commit, or without git. */
export async function projectCommit(): Promise<{ commit: string; dirty: boolean } | undefined> {
  // One git process answers both: `# branch.oid <commit>` among the headers, then a line per
  // changed tracked file.
  let status: string;
  try {
    status = (await run('git', ['status', '--porcelain=v2', '--branch', '--untracked-files=no'], { encoding: 'utf8', timeout: 10_000 })).stdout;
  } catch {
    return undefined;
  }
  const lines = status.split('\n').filter((line) => line !== '');
  const commit = lines.find((line) => line.startsWith('# branch.oid '))?.slice('# branch.oid '.length);
  if (commit === undefined || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  return { commit, dirty: lines.some((line) => !line.startsWith('#')) };
}
