import { open, rm } from 'node:fs/promises';
import { BackupError } from '../../errors.js';
import { readFileIfExists } from '../../util/durable-fs.js';
import { isRunning, selfIdentity, type ProcessIdentity } from './process.js';
import type { AgentPaths } from './runtime-dir.js';

/** What a lock file holds. */
export interface LockInfo extends ProcessIdentity {
  readonly id: string;
}

/** The lock's content, or undefined when there is none (or it is unreadable garbage). */
export async function readLock(path: string): Promise<LockInfo | undefined> {
  const text = (await readFileIfExists(path))?.toString('utf8');
  if (text === undefined) return undefined;
  try {
    const info = JSON.parse(text) as LockInfo;
    return typeof info?.pid === 'number' ? info : undefined;
  } catch {
    return undefined; // half-written by a holder that died at once: stale
  }
}

/** The live holder of `id`'s lock, or undefined when nobody (alive) holds it. */
export async function liveLockHolder(paths: AgentPaths): Promise<LockInfo | undefined> {
  const info = await readLock(paths.lock);
  return info !== undefined && isRunning(info) ? info : undefined;
}

/**
 * Takes the lock of one backup ID for this process (O_EXCL create). A lock left by a dead
 * process is removed, together with its socket, and taken over.
 * @throws BackupError `ALREADY_EXISTS` when a live process holds it.
 */
export async function acquireLock(paths: AgentPaths, id: string): Promise<void> {
  const body = `${JSON.stringify({ id, ...selfIdentity() } satisfies LockInfo)}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(paths.lock, 'wx', 0o600);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readLock(paths.lock);
    if (holder !== undefined && isRunning(holder)) {
      throw new BackupError('ALREADY_EXISTS', `A backup with ID ${id} is already running (holder pid ${holder.pid}). Use another ID, or end that one with post or abort.`, {
        details: { id, pid: holder.pid },
      });
    }
    if (holder === undefined && attempt === 0) {
      // Possibly being written this very moment by a starting holder: look again shortly.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const again = await readLock(paths.lock);
      if (again !== undefined && isRunning(again)) continue;
    }
    await rm(paths.socket, { force: true });
    await rm(paths.lock, { force: true });
  }
  throw new BackupError('ALREADY_EXISTS', `Could not take the lock ${paths.lock} for backup ${id}: another process keeps taking it.`, { details: { id } });
}

/** Gives the lock up, only if it is still ours. */
export async function releaseLock(paths: AgentPaths): Promise<void> {
  const info = await readLock(paths.lock).catch(() => undefined);
  if (info === undefined || info.pid === process.pid) await rm(paths.lock, { force: true }).catch(() => undefined);
}
