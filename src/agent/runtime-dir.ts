import { createHash } from 'node:crypto';
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../errors.js';

/** Files that belong to one backup ID in the runtime directory. */
export interface AgentPaths {
  readonly runtimeDir: string;
  /** The holder's control socket. Named by a hash: Unix socket paths are limited to ~107 bytes. */
  readonly socket: string;
  /** Held while a holder runs: the holder's pid. */
  readonly lock: string;
  /** The holder's log. */
  readonly log: string;
  /** The backup's state record: running, then how it ended (the tombstone). */
  readonly record: string;
}

/** The runtime directory: the flag, else `PG_SPLIT_BACKUP_RUNTIME_DIR`, `$XDG_RUNTIME_DIR/pg-split-backup`, `/tmp/pg-split-backup-<uid>`. */
export function resolveRuntimeDir(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return explicit;
  if (env.PG_SPLIT_BACKUP_RUNTIME_DIR) return env.PG_SPLIT_BACKUP_RUNTIME_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'pg-split-backup');
  return `/tmp/pg-split-backup-${process.getuid?.() ?? 'user'}`;
}

/**
 * Creates the runtime directory (0700) or checks an existing one: it holds the sockets that can
 * stop or abort a backup, so it must be ours alone.
 * @throws BackupError `UNSAFE_RUNTIME_DIR`, `INVALID_OPTION` (relative path).
 */
export async function ensureRuntimeDir(dir: string): Promise<void> {
  if (!dir.startsWith('/')) throw new BackupError('INVALID_OPTION', `The runtime directory must be an absolute path, got ${dir}.`, { details: { option: 'runtime-dir' } });
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const st = await lstat(dir);
  const unsafe = (why: string): BackupError =>
    new BackupError('UNSAFE_RUNTIME_DIR', `Refusing the runtime directory ${dir}: ${why}. Use a directory of your own with mode 0700 (--runtime-dir).`, {
      details: { runtimeDir: dir },
    });
  if (st.isSymbolicLink()) throw unsafe('it is a symbolic link');
  if (!st.isDirectory()) throw unsafe('it is not a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw unsafe(`it is owned by uid ${st.uid}, not by you (uid ${uid})`);
  if ((st.mode & 0o022) !== 0) throw unsafe(`it is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`);
}

/** The files of backup `id` in `runtimeDir`. */
export function agentPaths(runtimeDir: string, id: string): AgentPaths {
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 20);
  return {
    runtimeDir,
    socket: join(runtimeDir, `${hash}.sock`),
    lock: join(runtimeDir, `${id}.lock`),
    log: join(runtimeDir, `${id}.log`),
    record: join(runtimeDir, `${id}.json`),
  };
}

/** Longest socket path the kernel accepts (sun_path is 108 bytes with the NUL). */
export const MAX_SOCKET_PATH = 107;
