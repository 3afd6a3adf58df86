import { createHash } from 'node:crypto';
import { lstat, mkdir } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { BackupError } from '../../errors.js';
import { assertBackupId } from '../../summary/backup-id.js';

/** Files that belong to one backup ID in the runtime directory. */
export interface AgentPaths {
  readonly runtimeDir: string;
  /**
   * The holder's control socket (0600): `<id>.sock`, or `~<hash>.sock` when that path would be
   * longer than a Unix socket path may be (`~` cannot start an ID, so the names never collide).
   */
  readonly socket: string;
  /** Created with O_EXCL by the holder; holds its pid. */
  readonly lock: string;
  /** The holder's log. */
  readonly log: string;
  /** The backup's state record: running, then how it ended (the tombstone). */
  readonly record: string;
}

/** Longest socket path the kernel accepts (sun_path is 108 bytes with the NUL). */
export const MAX_SOCKET_PATH = 107;

/** Length of the hashed socket name `~<40 hex>.sock`. */
const HASHED_SOCKET_NAME_LENGTH = 46;

/**
 * The runtime directory: `explicit` (the `--runtime-dir` flag), else `PG_SPLIT_BACKUP_RUNTIME_DIR`,
 * else `$XDG_RUNTIME_DIR/pg-split-backup`, else `/tmp/pg-split-backup-<uid>`.
 */
export function resolveRuntimeDir(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const dir =
    explicit ||
    env.PG_SPLIT_BACKUP_RUNTIME_DIR ||
    (env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'pg-split-backup') : `/tmp/pg-split-backup-${process.getuid?.() ?? 'user'}`);
  if (!isAbsolute(dir)) {
    throw new BackupError('INVALID_OPTION', `The runtime directory must be an absolute path, got ${JSON.stringify(dir)}.`, {
      details: { option: 'runtime-dir' },
    });
  }
  if (Buffer.byteLength(normalize(dir)) + 1 + HASHED_SOCKET_NAME_LENGTH > MAX_SOCKET_PATH) {
    throw new BackupError('INVALID_OPTION', `The runtime directory ${dir} is too long to hold Unix sockets (at most ${MAX_SOCKET_PATH - HASHED_SOCKET_NAME_LENGTH - 1} bytes).`, {
      details: { option: 'runtime-dir' },
    });
  }
  return normalize(dir).replace(/(.)\/$/, '$1');
}

function unsafe(dir: string, why: string): BackupError {
  return new BackupError(
    'UNSAFE_RUNTIME_DIR',
    `Refusing the runtime directory ${dir}: ${why}. Its sockets can stop or abort backups, so it must be a directory of your own with mode 0700 (or pass --runtime-dir).`,
    { details: { runtimeDir: dir, problem: why } },
  );
}

/**
 * Checks that the runtime directory is ours alone: a real directory (not a symlink), owned by
 * this user, not writable by group or others.
 * @returns false when it does not exist.
 * @throws BackupError `UNSAFE_RUNTIME_DIR`.
 */
export async function checkRuntimeDir(dir: string): Promise<boolean> {
  let st;
  try {
    st = await lstat(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  if (st.isSymbolicLink()) throw unsafe(dir, 'it is a symbolic link');
  if (!st.isDirectory()) throw unsafe(dir, 'it is not a directory');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw unsafe(dir, `it is owned by uid ${st.uid}, not by you (uid ${uid})`);
  if ((st.mode & 0o022) !== 0) throw unsafe(dir, `it is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`);
  return true;
}

/**
 * Creates the runtime directory (0700, parents too) or checks an existing one (see {@link checkRuntimeDir}).
 * @throws BackupError `UNSAFE_RUNTIME_DIR`.
 */
export async function ensureRuntimeDir(dir: string): Promise<void> {
  if (await checkRuntimeDir(dir)) return;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new BackupError('UNSAFE_RUNTIME_DIR', `Cannot create the runtime directory ${dir}: ${(error as Error).message}.`, {
      cause: error,
      details: { runtimeDir: dir },
    });
  }
  // Someone may have raced us to it: check what is there now.
  await checkRuntimeDir(dir);
}

/** The files of backup `id` in `runtimeDir`. Throws `INVALID_ID` for an invalid ID. */
export function agentPaths(runtimeDir: string, id: string): AgentPaths {
  assertBackupId(id);
  let socket = join(runtimeDir, `${id}.sock`);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    socket = join(runtimeDir, `~${createHash('sha256').update(id).digest('hex').slice(0, 40)}.sock`);
  }
  return {
    runtimeDir,
    socket,
    lock: join(runtimeDir, `${id}.lock`),
    log: join(runtimeDir, `${id}.log`),
    record: join(runtimeDir, `${id}.json`),
  };
}
