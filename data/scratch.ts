// Scratch folders that a killed process cannot leak: each is named after its owner's pid
// (`<prefix>-<pid>-XXXXXX` in the system temp folder), and making one first removes those whose
// owner is gone. A pid that is alive, or belongs to another user, keeps its folder.

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Removes `<prefix>-<pid>-*` folders in `parent` whose process has exited; returns their paths. */
export async function removeAbandonedScratch(prefix: string, parent = tmpdir()): Promise<string[]> {
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)-[A-Za-z0-9]{6}$`);
  const removed: string[] = [];
  for (const name of await readdir(parent).catch(() => [])) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    const path = join(parent, name);
    // Another user's folder cannot be removed; it is theirs to clean.
    await rm(path, { recursive: true, force: true }).then(
      () => removed.push(path),
      () => undefined,
    );
  }
  return removed;
}

/** A new scratch folder owned by this process, after removing those that killed processes left. */
export async function makeScratchFolder(prefix: string, parent = tmpdir()): Promise<string> {
  await removeAbandonedScratch(prefix, parent);
  return mkdtemp(join(parent, `${prefix}-${process.pid}-`));
}
