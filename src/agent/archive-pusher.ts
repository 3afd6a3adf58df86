// archive-push --async: the archive_command returns once a background pusher has stored its
// segment; the pusher pushes the next `.ready` segments in parallel ahead of being asked (after
// pgBackRest's async archive-push). The only state is an acknowledgement file per segment, written
// after the segment is stored durably, and naming the segment file it was made from (inode, size,
// mtime): an acknowledgement that is lost costs a second (write-once, same-content) push; one that
// does not match the file is ignored. Nothing can acknowledge a segment that is not stored.
import type { ArchivePushResult } from '../restore/archive-push.js';
import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { BackupError, isBackupError } from '../errors.js';
import { assertArchivableName, writeWholeFile } from '../restore/archive-files.js';
import type { WritableWalArchive } from '../restore/wal-archive.js';
import { assertWalCompression, type WalCompression } from '../restore/wal-compression.js';
import { sleep, throwIfAborted } from '../util/abort.js';
import { readFileIfExists } from '../util/durable-fs.js';
import type { CallOptions } from '../sinks/contract.js';
import { encryptionFrom, type EncryptionSettings } from '../crypto/keyring.js';
import { isRunning, type ProcessIdentity } from './state/process.js';
import { readSpoolLock, startDetached, takeSpoolLock } from './spool-process.js';

/** Options of {@link archivePushAsync}. */
export interface ArchivePushAsyncOptions extends CallOptions, EncryptionSettings {
  /** The archive URL (`file:///dir`, `/dir`, `s3://bucket/prefix?...`): the pusher is another process. */
  readonly archive: string;
  /** @default 'none' */
  readonly compress?: WalCompression;
  /** The data directory (`%p` is relative to it). @default process.cwd() */
  readonly dataDirectory?: string;
  /** Where acknowledgements, errors, the lock and the pusher's log live. @default `<data dir>/pg_wal/pgsb-archive-push` */
  readonly spoolDirectory?: string;
  /** Segments pushed at once. @default 4 */
  readonly parallel?: number;
  /** Segments pushed ahead of being asked, at most (acknowledgements not yet taken). @default 32 */
  readonly maxQueue?: number;
  /** How long the command waits for its segment before it fails (PostgreSQL retries), ms. @default 60000 */
  readonly timeoutMs?: number;
  /** How long an idle pusher waits for new `.ready` files before it exits, ms. @default 2000 */
  readonly idleMs?: number;
}

/** What the pusher process is given (argv, as JSON: no secrets, S3 credentials come from its environment). */
export interface PusherConfig extends EncryptionSettings {
  readonly archive: string;
  readonly compress: WalCompression;
  readonly dataDirectory: string;
  readonly spoolDirectory: string;
  readonly parallel: number;
  readonly maxQueue: number;
  readonly idleMs: number;
}

/** What an acknowledgement file says: the segment file it was stored from, and where. */
export interface Ack {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly storedAs: string;
  readonly written: boolean;
}

/** `<segment>.ok`: the acknowledgement (an `Ack` as JSON), written once the segment is stored. */
export const ACK = '.ok';
/**
 * `<segment>.stored`: a hard link to the segment file the pusher stored, for archive_command's
 * shell fast path (`[ <spool>/%f.stored -ef %p ]`: same inode, no Node start). Written after the
 * `.ok` acknowledgement, removed with it.
 */
export const STORED_MARKER = '.stored';
/** `<segment>.error`: the failure of its last push (`{ code, message }`), until the command for it reads it. */
export const ERROR = '.error';
/** The lock naming the one live pusher of a spool. */
export const LOCK = 'pusher.lock';
/** Where the spool is, relative to the data directory, unless `spoolDirectory` says otherwise. */
export const DEFAULT_SPOOL_DIRECTORY = join('pg_wal', 'pgsb-archive-push');
const LOG = 'pusher.log';

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new BackupError('INVALID_OPTION', `${name} must be a positive integer, got ${String(value)}.`, { details: { option: name } });
  return value;
}

/** The resolved configuration of the pusher for these options. */
export function pusherConfig(options: ArchivePushAsyncOptions): PusherConfig {
  const dataDirectory = resolve(options.dataDirectory ?? process.cwd());
  return {
    archive: options.archive,
    compress: assertWalCompression(options.compress ?? 'none'),
    dataDirectory,
    spoolDirectory: resolve(dataDirectory, options.spoolDirectory ?? DEFAULT_SPOOL_DIRECTORY),
    parallel: positiveInteger('parallel', options.parallel, 4),
    maxQueue: positiveInteger('maxQueue', options.maxQueue, 32),
    idleMs: positiveInteger('idleMs', options.idleMs, 2000),
    ...(options.encryptionKeyFiles !== undefined && options.encryptionKeyFiles.length > 0 ? { encryptionKeyFiles: options.encryptionKeyFiles.map((f) => resolve(f)) } : {}),
    ...(options.requireEncrypted === true ? { requireEncrypted: true } : {}),
  };
}

async function fileIdentity(path: string): Promise<Pick<Ack, 'ino' | 'size' | 'mtimeMs'> | undefined> {
  try {
    const st = await stat(path);
    return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Links `marker` to the segment at `path` when it is still the file that was stored (inode, size,
 * mtime as before the push), through a temp name and a rename (which replaces a stale marker).
 * A spool on another file system cannot hold a link (EXDEV): the fast path then falls through to
 * the command, which is as correct and only slower.
 */
async function linkStoredMarker(path: string, marker: string, stored: Pick<Ack, 'ino' | 'size' | 'mtimeMs'>): Promise<void> {
  const temp = `${marker}.${randomBytes(6).toString('hex')}.tmp`;
  await link(path, temp);
  try {
    const now = await stat(temp);
    if (now.ino !== stored.ino || now.size !== stored.size || now.mtimeMs !== stored.mtimeMs) return;
    await rename(temp, marker);
  } finally {
    await rm(temp, { force: true });
  }
}

/** The acknowledgement of `walFile` if it names the file at `path` as it is now. */
export async function matchingAck(spool: string, walFile: string, path: string): Promise<Ack | undefined> {
  const text = (await readFileIfExists(join(spool, walFile + ACK)))?.toString('utf8');
  if (text === undefined) return undefined;
  let ack: Ack;
  try {
    ack = JSON.parse(text) as Ack;
  } catch {
    return undefined;
  }
  const now = await fileIdentity(path);
  return now !== undefined && now.ino === ack.ino && now.size === ack.size && now.mtimeMs === ack.mtimeMs ? ack : undefined;
}

/**
 * archive_command in async mode: resolves once the background pusher acknowledges that `path`
 * (`%p`) is stored durably, starting the pusher when none runs (again, if it died). The pusher
 * pushes the next `.ready` segments of `pg_wal/archive_status` meanwhile, so later calls usually
 * find their acknowledgement waiting.
 *
 * @throws BackupError `ARCHIVE_FAILED` when the pusher reports a failure for this segment or no
 * acknowledgement comes within `timeoutMs` (PostgreSQL keeps the WAL and retries), `WAL_CONFLICT`.
 */
export async function archivePushAsync(path: string, options: ArchivePushAsyncOptions): Promise<Pick<ArchivePushResult, 'walFile' | 'storedAs' | 'written' | 'archive'>> {
  const walFile = assertArchivableName(basename(path));
  const config = pusherConfig(options);
  const source = resolve(config.dataDirectory, path);
  const spool = config.spoolDirectory;
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, 60_000);
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + timeoutMs;
  let starts = 0;
  // The pusher we started, until it has taken the lock (node takes a while to start).
  let started: ProcessIdentity | undefined;
  for (let pollMs = 5; ; pollMs = Math.min(pollMs * 2, 50)) {
    throwIfAborted(options.signal);
    const ack = await matchingAck(spool, walFile, source);
    if (ack) {
      // Left in place: the pusher removes it once PostgreSQL has renamed the .ready file, and
      // until then it tells the pusher not to push this file again.
      return { walFile, storedAs: ack.storedAs, written: ack.written, archive: config.archive };
    }
    const running = isRunning(await readSpoolLock(join(spool, LOCK))) || isRunning(started);
    const errorText = (await readFileIfExists(join(spool, walFile + ERROR)))?.toString('utf8');
    if (errorText !== undefined) {
      await rm(join(spool, walFile + ERROR), { force: true });
      // An error a pusher that is gone left behind is old news: try again with a new one.
      if (running || starts > 0) throw pusherError(walFile, errorText);
    }
    if (!running) {
      // Bad keys are this command's error, not a pusher dying three times.
      if (starts === 0) await encryptionFrom(config);
      if (starts >= 3) throw new BackupError('ARCHIVE_FAILED', `The archive pusher for ${config.dataDirectory} died ${starts} times without storing ${walFile}; see ${join(spool, LOG)}.`, { details: { walFile, log: join(spool, LOG) } });
      started = startDetached('archive-pusher-main', config, join(spool, LOG), config.dataDirectory);
      starts++;
      pollMs = 5;
    }
    if (Date.now() > deadline) {
      throw new BackupError('ARCHIVE_FAILED', `${walFile} was not stored in ${config.archive} within ${Math.round(timeoutMs / 1000)} s by the archive pusher (see ${join(spool, LOG)}); PostgreSQL keeps the WAL and retries.`, {
        details: { walFile, log: join(spool, LOG) },
      });
    }
    await sleep(pollMs, options.signal);
  }
}

function pusherError(walFile: string, text: string): BackupError {
  try {
    const json = JSON.parse(text) as { code?: string; message?: string };
    if (json.code === 'WAL_CONFLICT' || json.code === 'ARCHIVE_FAILED' || json.code === 'INVALID_OPTION') return new BackupError(json.code, json.message ?? text, { details: { walFile } });
    return new BackupError('ARCHIVE_FAILED', json.message ?? text, { details: { walFile } });
  } catch {
    return new BackupError('ARCHIVE_FAILED', `The archive pusher failed on ${walFile}: ${text}`, { details: { walFile } });
  }
}

/** `.ready` files in PostgreSQL's order: timeline history files first, then by name (pgarch.c). */
export async function readyFiles(dataDirectory: string): Promise<string[]> {
  const names = (await readdir(join(dataDirectory, 'pg_wal', 'archive_status'))).filter((n) => n.endsWith('.ready')).map((n) => n.slice(0, -'.ready'.length));
  return names.sort((a, b) => Number(b.endsWith('.history')) - Number(a.endsWith('.history')) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The pusher's loop (the detached process runs it): push `.ready` segments that have no
 * acknowledgement, `parallel` at once and at most `maxQueue` ahead; acknowledge each once stored;
 * on the first failure write it for the segment, stop taking work, and exit (the waiting command
 * fails, PostgreSQL retries, the next command starts a new pusher). Exits when idle for `idleMs`.
 * @returns false when another pusher holds the lock.
 */
export async function runArchivePusher(config: PusherConfig, log: (line: string) => void = () => undefined): Promise<boolean> {
  const spool = config.spoolDirectory;
  await mkdir(spool, { recursive: true, mode: 0o700 });
  if (!(await takeSpoolLock(join(spool, LOCK)))) return false;
  try {
    // Loaded here, not at the top: the command that waits for its acknowledgement never needs them.
    const [{ openWritableWalArchive }, { archivePush }] = await Promise.all([import('../restore/wal-archive.js'), import('../restore/archive-push.js')]);
    const encryption = await encryptionFrom(config);
    const archive: WritableWalArchive = await openWritableWalArchive(config.archive, encryption !== undefined ? { encryption } : {});
    const inFlight = new Map<string, Promise<void>>();
    let failed = false;
    let idleSince = Date.now();
    const push = async (walFile: string): Promise<void> => {
      const path = join(config.dataDirectory, 'pg_wal', walFile);
      try {
        const before = await fileIdentity(path);
        if (before === undefined) return; // archived and recycled meanwhile
        const result = await archivePush(path, { archive, compress: config.compress });
        const ack: Ack = { ...before, storedAs: result.storedAs, written: result.written };
        await writeWholeFile(join(spool, walFile + ACK), Buffer.from(JSON.stringify(ack)));
        await linkStoredMarker(path, join(spool, walFile + STORED_MARKER), before).catch((error: Error) => log(`${walFile}: no fast-path marker (${error.message})`));
        log(`${walFile} ${result.written ? 'stored as' : 'already stored as'} ${result.storedAs}`);
      } catch (error) {
        failed = true;
        const json = isBackupError(error) ? error.toJSON() : { code: 'ARCHIVE_FAILED', message: (error as Error).message };
        log(`${walFile} FAILED: ${json.code}: ${json.message}`);
        await writeWholeFile(join(spool, walFile + ERROR), Buffer.from(JSON.stringify(json))).catch(() => undefined);
      }
    };
    while (!failed) {
      const ready = await readyFiles(config.dataDirectory);
      const readySet = new Set(ready);
      const spooled = await readdir(spool);
      // Acknowledgements PostgreSQL no longer needs (its .ready is gone) are removed; the rest count against the queue.
      let queued = 0;
      for (const name of spooled.filter((n) => n.endsWith(ACK))) {
        if (readySet.has(name.slice(0, -ACK.length))) queued++;
        else await rm(join(spool, name), { force: true });
      }
      // The markers go with them: a link holds its segment's space until it is removed.
      for (const name of spooled.filter((n) => n.endsWith(STORED_MARKER))) {
        if (!readySet.has(name.slice(0, -STORED_MARKER.length))) await rm(join(spool, name), { force: true });
      }
      for (const name of spooled) {
        const temp = /^(.+)\.stored\.[0-9a-f]{12}\.tmp$/.exec(name);
        if (temp && !inFlight.has(temp[1]!)) await rm(join(spool, name), { force: true }); // a crash between link and rename
      }
      const acked = new Set(spooled.filter((n) => n.endsWith(ACK)).map((n) => n.slice(0, -ACK.length)));
      let started = 0;
      for (const walFile of ready) {
        if (inFlight.size >= config.parallel || queued + inFlight.size >= config.maxQueue) break;
        if (inFlight.has(walFile) || acked.has(walFile)) continue;
        const job = push(walFile).finally(() => inFlight.delete(walFile));
        inFlight.set(walFile, job);
        started++;
      }
      if (inFlight.size > 0) {
        idleSince = Date.now();
        await Promise.race([...inFlight.values(), sleep(100)]);
        continue;
      }
      if (started === 0 && Date.now() - idleSince > config.idleMs) break;
      await sleep(20);
    }
    await Promise.all(inFlight.values());
    return true;
  } finally {
    await rm(join(spool, LOCK), { force: true });
  }
}

/** Reads the spool's acknowledgement count (for tests and status): segments pushed but not yet asked for. */
export async function pendingAcknowledgements(spoolDirectory: string): Promise<string[]> {
  return (await readdir(spoolDirectory).catch(() => [] as string[])).filter((n) => n.endsWith(ACK)).map((n) => n.slice(0, -ACK.length));
}

