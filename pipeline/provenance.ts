// What the history records about the code a run used, beyond the stages' versions: the git
// commit of the project in the current directory, and whether tracked files differed from it.

import { execFileSync } from 'node:child_process';

function git(args: readonly string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch {
    return undefined;
  }
}

/** The HEAD commit and dirtiness of the git work tree around the current directory; undefined outside one (or without git). */
export function projectCommit(): { commit: string; dirty: boolean } | undefined {
  const commit = git(['rev-parse', '--verify', '--quiet', 'HEAD'])?.trim();
  if (!commit) return undefined;
  const changes = git(['status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: changes === undefined || changes.trim() !== '' };
}
