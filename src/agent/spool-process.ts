// What the archive pusher and the WAL prefetcher share: a lock file naming the one live process of
// a spool directory, and starting such a process detached.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileIfExists } from '../util/durable-fs.js';
import { isRunning, selfIdentity, type ProcessIdentity } from './state/process.js';

/** The identity in a lock file, or undefined (none, or half-written by a process that died at once). */
export async function readSpoolLock(path: string): Promise<ProcessIdentity | undefined> {
  const text = (await readFileIfExists(path))?.toString('utf8');
  try {
    const info = text === undefined ? undefined : (JSON.parse(text) as ProcessIdentity);
    return typeof info?.pid === 'number' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the lock at `path` for this process (O_EXCL); a dead process's lock is taken over. False when a live one holds it. */
export async function takeSpoolLock(path: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(selfIdentity()));
      } finally {
        await handle.close();
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (isRunning(await readSpoolLock(path))) return false;
      await rm(path, { force: true });
    }
  }
  return false;
}

/**
 * Starts `<name>.ts|.js` next to this module (tsx in execArgv comes along; dist needs none)
 * detached, with `config` as argv[2] (JSON: never secrets) and stdout/stderr appended to `logPath`.
 */
export function startDetached(name: string, config: object, logPath: string, cwd: string): ProcessIdentity {
  const entry = fileURLToPath(new URL(`./${name}${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
  const logFd = openSync(logPath, 'a', 0o600);
  try {
    const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--inspect'));
    const child = spawn(process.execPath, [...execArgv, entry, JSON.stringify(config)], { detached: true, stdio: ['ignore', logFd, logFd], cwd });
    child.unref();
    return { pid: child.pid ?? -1 };
  } finally {
    closeSync(logFd);
  }
}

/** A line for a detached process's log. */
export function logLine(line: string): void {
  process.stdout.write(`${new Date().toISOString()} [${process.pid}] ${line}\n`);
}
