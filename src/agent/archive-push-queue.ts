// info --data-directory: the archive-push --async pusher's queue as it stands on the database host,
// read from PostgreSQL's archive_status and the pusher's spool without changing either (the pusher
// owns the spool; a reader that tidied it could race it). Beside the pusher, which owns the format.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BackupError, isBackupError } from '../errors.js';
import type { ArchivePushQueue } from '../lifecycle/archive-push-facts.js';
import type { CallOptions } from '../sinks/contract.js';
import { throwIfAborted } from '../util/abort.js';
import { mapLimit } from '../util/map-limit.js';
import { ACK, DEFAULT_SPOOL_DIRECTORY, ERROR, LOCK, matchingAck, readyFiles, STORED_MARKER } from './archive-pusher.js';
import { readSpoolLock } from './spool-process.js';
import { isRunning } from './state/process.js';

export type { ArchivePushQueue } from '../lifecycle/archive-push-facts.js';

/** Options of {@link readArchivePushQueue}. */
export interface ArchivePushQueueOptions extends CallOptions {
  /**
   * The pusher's spool, as `archive-push --async --spool-dir` has it: relative to the data
   * directory, or absolute.
   * @default 'pg_wal/pgsb-archive-push'
   */
  readonly spoolDirectory?: string;
}

/** Stats and reads at once: a backlog of thousands of `.ready` files is read in well under a second. */
const PARALLEL = 16;

function unreadable(path: string, error: unknown): BackupError {
  if (isBackupError(error)) return error;
  const errno = (error as NodeJS.ErrnoException).code;
  return new BackupError('ARCHIVE_QUEUE_UNREADABLE', `${path} cannot be read (${errno ?? (error as Error).message}): run this as the data directory's owner (the user PostgreSQL runs as).`, {
    cause: error,
    details: { path, ...(errno ? { errno } : {}) },
  });
}

const missing = (error: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');

/** `path` read with `read`, undefined when it is not there; any other failure is ARCHIVE_QUEUE_UNREADABLE. */
async function readOrUndefined<T>(path: string, read: (path: string) => Promise<T>): Promise<T | undefined> {
  try {
    return await read(path);
  } catch (error) {
    if (missing(error)) return undefined;
    throw unreadable(path, error);
  }
}

/** The system identifier: the first 8 bytes of `global/pg_control`, little-endian. */
async function systemIdentifier(dataDirectory: string): Promise<string> {
  const path = join(dataDirectory, 'global', 'pg_control');
  const control = await readOrUndefined(path, (p) => readFile(p));
  if (control === undefined || control.length < 8) {
    throw new BackupError('INVALID_OPTION', `${dataDirectory} is not a PostgreSQL data directory: ${path} is ${control === undefined ? 'missing' : 'truncated'}.`, { details: { option: 'dataDirectory', dataDirectory } });
  }
  return control.readBigUInt64LE(0).toString();
}

/**
 * The archive-push --async pusher's queue: PostgreSQL's `.ready` files, which of them the pusher
 * has stored ahead (a valid acknowledgement or fast-path marker, as archive_command would trust),
 * which are still to push and since when, the failures it recorded for those, and whether a pusher
 * runs. Reads only; run it on the database host as the data directory's owner. Counts are a
 * snapshot of a moving queue: a file archived while it reads is left out.
 *
 * @example
 * const queue = await readArchivePushQueue('/var/lib/postgresql/17/main');
 * console.log(infoMetrics(report, { archivePush: queue }));
 * @throws BackupError `INVALID_OPTION` when `dataDirectory` is not a data directory (missing, no
 * `pg_wal/archive_status`, no `global/pg_control`), `ARCHIVE_QUEUE_UNREADABLE` when it or the
 * spool cannot be read (permissions, I/O), `ABORTED` through `signal`.
 */
export async function readArchivePushQueue(dataDirectory: string, options: ArchivePushQueueOptions = {}): Promise<ArchivePushQueue> {
  const dir = resolve(dataDirectory);
  const spool = resolve(dir, options.spoolDirectory ?? DEFAULT_SPOOL_DIRECTORY);
  const signal = options.signal;
  const status = join(dir, 'pg_wal', 'archive_status');
  throwIfAborted(signal);
  const ready = await readOrUndefined(dir, readyFiles);
  if (ready === undefined) {
    const exists = await readOrUndefined(dir, stat);
    throw new BackupError('INVALID_OPTION', exists === undefined ? `The data directory ${dir} does not exist.` : `${dir} is not a PostgreSQL data directory: it has no ${status}.`, { details: { option: 'dataDirectory', dataDirectory: dir } });
  }
  const sysid = await systemIdentifier(dir);
  throwIfAborted(signal);
  // No spool is an empty one: no pusher ran yet (or archive-push runs without --async).
  const spooled = new Set((await readOrUndefined(spool, (p) => readdir(p))) ?? []);
  const pusherRunning = isRunning(await readOrUndefined(join(spool, LOCK), readSpoolLock));
  const files = await mapLimit(
    ready,
    PARALLEL,
    async (walFile) => {
      const readySince = (await readOrUndefined(join(status, `${walFile}.ready`), stat))?.mtime;
      if (readySince === undefined) return undefined; // archived meanwhile
      const segment = join(dir, 'pg_wal', walFile);
      const stored = (spooled.has(walFile + ACK) && (await acknowledged(spool, walFile, segment))) || (spooled.has(walFile + STORED_MARKER) && (await sameFile(join(spool, walFile + STORED_MARKER), segment)));
      return { walFile, readySince, stored };
    },
    signal,
  );
  const present = files.filter((f) => f !== undefined);
  const pending = present.filter((f) => !f.stored);
  const oldest = pending.reduce<(typeof pending)[number] | undefined>((a, b) => (a === undefined || b.readySince < a.readySince ? b : a), undefined);
  // An error left for a file since stored (a later pusher succeeded) or archived is old news.
  const failures = (
    await mapLimit(
      pending.filter((f) => spooled.has(f.walFile + ERROR)),
      PARALLEL,
      async ({ walFile }) => {
        const path = join(spool, walFile + ERROR);
        const [text, st] = await Promise.all([readOrUndefined(path, (p) => readFile(p)), readOrUndefined(path, stat)]);
        return text === undefined || st === undefined ? undefined : { walFile, code: errorCode(text.toString('utf8')), at: st.mtime };
      },
      signal,
    )
  ).filter((f) => f !== undefined);
  const last = failures.reduce<(typeof failures)[number] | undefined>((a, b) => (a === undefined || b.at > a.at ? b : a), undefined);
  return {
    dataDirectory: dir,
    spoolDirectory: spool,
    systemIdentifier: sysid,
    ready: present.length,
    storedAhead: present.length - pending.length,
    pending: pending.length,
    failed: failures.length,
    ...(last ? { lastFailedWal: last.walFile, lastFailedCode: last.code, lastFailedAt: last.at } : {}),
    pusherRunning,
    ...(oldest ? { oldestPendingWal: oldest.walFile, oldestPendingSince: oldest.readySince } : {}),
  };
}

/** Whether the acknowledgement of `walFile` names the segment at `segment` as it is now (what the command trusts). */
async function acknowledged(spool: string, walFile: string, segment: string): Promise<boolean> {
  try {
    return (await matchingAck(spool, walFile, segment)) !== undefined;
  } catch (error) {
    throw unreadable(join(spool, walFile + ACK), error);
  }
}

/** What archive_command's shell part tests (`[ marker -ef %p ]`): the same inode on the same device. */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readOrUndefined(a, stat), readOrUndefined(b, stat)]);
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
}

/** The code of an error file the pusher wrote (`{ code, message }`); ARCHIVE_FAILED for anything else, as the command reads it. */
function errorCode(text: string): string {
  try {
    const code = (JSON.parse(text) as { code?: unknown }).code;
    return typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code) ? code : 'ARCHIVE_FAILED';
  } catch {
    return 'ARCHIVE_FAILED';
  }
}
