import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { extname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENCRYPTION_KEY_VARIABLE, encryptionFrom, type EncryptionSettings } from '../crypto/keyring.js';
import { BackupError } from '../errors.js';
import { openStore, parseStoreUrl } from '../stores/store-url.js';
import { assertBackupId } from '../summary/backup-id.js';
import { abortReason, throwIfAborted } from '../util/abort.js';
import { parseDbname } from './connection.js';
import { liveLockHolder, readLock } from './state/lock.js';
import { isRunning } from './state/process.js';
import { responseError } from './client.js';
import { configMessage, type HeldBackup, type HolderConfig, type HolderMessage, type ProgressUpdate } from './protocol.js';
import { holderRunning, isActiveState, readRecord, removeQuietly } from './state/record.js';
import { agentPaths, ensureRuntimeDir, resolveRuntimeDir } from './state/runtime-dir.js';
import { DEBUG_VARIABLE } from './holder/debug.js';
import { settleDeadHolder } from './control.js';

/** Options of {@link startBackup}: what `pg-split-backup pre` was given. */
export interface StartBackupOptions extends EncryptionSettings {
  /** The backup ID, also its backup label: 1-200 of `A-Z a-z 0-9 . _ -`. */
  readonly id: string;
  /** Sink URLs (`file:///dir`, `/dir`, `s3://bucket/prefix?...`); at least one. */
  readonly sinks: readonly string[];
  /** `--dbname`: a `postgresql://` URI or a database name; PG* env and ~/.pgpass fill in the rest. */
  readonly dbname?: string;
  /** Request an immediate checkpoint instead of a spread one. @default false */
  readonly fast?: boolean;
  /** Abort the backup if it is not stopped after this long, in milliseconds; 0: no limit. @default 86400000 (24 h) */
  readonly maxHoldMs?: number;
  /** At the stop, wait for the backup's last WAL file to be archived. @default true */
  readonly waitForArchive?: boolean;
  /** Ship the backup's WAL in its summary, so it restores with no archive. @default false */
  readonly includeWal?: boolean;
  /** How long post waits for the last WAL file to be archived, in milliseconds. @default the library's 600000 */
  readonly archiveTimeoutMs?: number;
  /** How often the holder checks its server session, in milliseconds (at least 100). @default the library's 10000 */
  readonly heartbeatIntervalMs?: number;
  /**
   * The runtime directory of the holders' sockets, locks, logs and records (absolute; created 0700).
   * @default `PG_SPLIT_BACKUP_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/pg-split-backup`, else `/tmp/pg-split-backup-<uid>`
   */
  readonly runtimeDir?: string;
  /** The environment the holder inherits (PGPASSWORD is moved into its IPC config). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** The holder logs at debug level (sets `PGSB_DEBUG=1` in its environment). @default false */
  readonly debug?: boolean;
  /** Receives what the start is waiting for (the checkpoint), about once a second. */
  readonly onProgress?: (progress: ProgressUpdate) => void;
  /**
   * Gives the start up: before the holder confirmed the start it is told to end (the server
   * discards the backup), and the call rejects with the signal's reason once the holder is gone.
   * Once started, the backup is held whatever the signal does (end it with {@link abortBackup}).
   */
  readonly signal?: AbortSignal;
}

/** Default `--max-hold`: a day. */
export const DEFAULT_MAX_HOLD_MS = 86_400_000;

const LOG_TAIL_BYTES = 2000;

/**
 * The holder idles for hours and does almost no JavaScript work: V8's interpreter alone (no
 * baseline or optimizing compiler) keeps it about 4 MB smaller. WebAssembly stays available.
 */
const HOLDER_V8_FLAGS = (process.env.PGSB_HOLDER_V8_FLAGS ?? '--no-opt --no-sparkplug').split(' ').filter(Boolean);

/** The holder entry next to this module: `.ts` under tsx, `.js` from dist. */
function holderEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./holder/holder-main${extname(self)}`, import.meta.url));
}

function logTail(path: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.slice(-LOG_TAIL_BYTES).trim();
  } catch {
    return '';
  }
}

/**
 * Checks everything `pre` can check without starting anything: the ID, every sink URL, the
 * connection option, the runtime directory, no live holder and no summary for the ID.
 * @throws BackupError `INVALID_ID`, `INVALID_URL`, `INVALID_OPTION`, `UNSAFE_RUNTIME_DIR`, `ALREADY_EXISTS`.
 */
export async function checkStart(options: StartBackupOptions): Promise<void> {
  assertBackupId(options.id);
  const runtimeDir = resolveRuntimeDir(options.runtimeDir);
  if (options.sinks.length === 0) {
    throw new BackupError('INVALID_OPTION', 'Give at least one --sink URL: where the summary goes at post.', { details: { option: 'sink' } });
  }
  for (const url of options.sinks) parseStoreUrl(url);
  // A bad key file fails pre, not the stop: the summary must be sealed when the backup ends.
  await encryptionFrom(options, options.env ?? process.env);
  if (new Set(options.sinks).size !== options.sinks.length) {
    throw new BackupError('INVALID_OPTION', 'The same --sink is given twice.', { details: { option: 'sink' } });
  }
  parseDbname(options.dbname);
  const maxHold = options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
  if (!Number.isFinite(maxHold) || maxHold < 0) throw new BackupError('INVALID_OPTION', '--max-hold must be a duration of 0 or more.', { details: { option: 'max-hold' } });
  const { archiveTimeoutMs, heartbeatIntervalMs } = options;
  if (archiveTimeoutMs !== undefined && !(archiveTimeoutMs > 0)) {
    throw new BackupError('INVALID_OPTION', '--archive-timeout must be a duration above 0.', { details: { option: 'archive-timeout' } });
  }
  if (heartbeatIntervalMs !== undefined && !(heartbeatIntervalMs >= 100)) {
    throw new BackupError('INVALID_OPTION', '--heartbeat must be at least 100ms.', { details: { option: 'heartbeat' } });
  }
  await ensureRuntimeDir(runtimeDir);
  const paths = agentPaths(runtimeDir, options.id);
  const holder = await liveLockHolder(paths);
  if (holder !== undefined) {
    throw new BackupError('ALREADY_EXISTS', `A backup with ID ${options.id} is already running (holder pid ${holder.pid}). Use another ID, or end that one with post or abort.`, {
      details: { id: options.id, pid: holder.pid },
    });
  }
  const record = await readRecord(paths.record);
  if (record !== undefined && isActiveState(record.state)) {
    if (holderRunning(record)) {
      throw new BackupError('ALREADY_EXISTS', `A backup with ID ${options.id} is already running (holder pid ${record.pid}).`, { details: { id: options.id, pid: record.pid } });
    }
    await settleDeadHolder(paths, record);
  }
  if (record?.state === 'stopped') {
    throw new BackupError('ALREADY_EXISTS', `Backup ${options.id} was already taken (stopped at ${record.endedAt ?? '?'}); use a new ID.`, { details: { id: options.id } });
  }
  for (const url of options.sinks) {
    const store = await openStore(url);
    if (await store.has(options.id)) {
      throw new BackupError('ALREADY_EXISTS', `Sink ${store.name} already holds a summary for backup ${options.id}; use a new ID.`, {
        details: { id: options.id, sink: store.name },
      });
    }
  }
}

/**
 * `pre`: checks everything ({@link checkStart}), then starts a detached holder process that owns
 * the backup's server session, and resolves once the server has started the backup. The holder
 * gets none of the caller's stdio (a backup program reads a pre script's output to EOF); its
 * configuration, which may hold a password, goes over the IPC channel, never argv or env.
 *
 * On failure the holder has exited and left no lock, socket or record; the error is rethrown.
 */
export async function startBackup(options: StartBackupOptions): Promise<HeldBackup> {
  const { signal } = options;
  throwIfAborted(signal);
  const runtimeDir = resolveRuntimeDir(options.runtimeDir);
  await checkStart({ ...options, runtimeDir });
  throwIfAborted(signal);
  const paths = agentPaths(runtimeDir, options.id);
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  if (options.debug) env[DEBUG_VARIABLE] = '1';
  const password = env.PGPASSWORD;
  delete env.PGPASSWORD;
  // Keys in the environment go the password's way: over IPC, out of /proc/<pid>/environ.
  const keys = env[ENCRYPTION_KEY_VARIABLE];
  delete env[ENCRYPTION_KEY_VARIABLE];
  // The holder logs to a file of its own until it holds the ID, then renames it to <id>.log: a
  // refused duplicate must not write into, nor remove, the running holder's log.
  const startLog = join(runtimeDir, `.${options.id}.${randomBytes(6).toString('hex')}.log`);
  const config: HolderConfig = {
    id: options.id,
    runtimeDir,
    sinks: [...options.sinks],
    connection: parseDbname(options.dbname),
    ...(password !== undefined ? { password } : {}),
    ...(keys !== undefined && keys !== '' ? { encryptionKeys: keys } : {}),
    ...(options.encryptionKeyFiles !== undefined && options.encryptionKeyFiles.length > 0 ? { encryptionKeyFiles: options.encryptionKeyFiles.map((f) => resolvePath(f)) } : {}),
    ...(options.requireEncrypted === true ? { requireEncrypted: true } : {}),
    fast: options.fast ?? false,
    maxHoldMs: options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS,
    waitForArchive: options.waitForArchive ?? true,
    ...(options.includeWal ? { includeWal: true } : {}),
    ...(options.archiveTimeoutMs !== undefined ? { archiveTimeoutMs: options.archiveTimeoutMs } : {}),
    ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    startLog,
  };

  const logFd = openSync(startLog, 'wx', 0o600);
  // A loader (tsx) given as --import resolves from the working directory; plain node needs none.
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--inspect'));
  const cwd = execArgv.length > 0 ? process.cwd() : '/';
  let child;
  try {
    child = spawn(process.execPath, [...execArgv, ...HOLDER_V8_FLAGS, holderEntry()], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'ipc'],
      env,
      cwd,
    });
  } finally {
    closeSync(logFd);
  }

  const cleanUpAfterFailure = async (pid: number | undefined): Promise<void> => {
    // The holder cleans up after itself; this covers one that died before it could.
    const lock = await readLock(paths.lock).catch(() => undefined);
    if (lock !== undefined && lock.pid === pid && !isRunning(lock)) await removeQuietly(paths.lock, paths.socket);
    await removeQuietly(startLog);
  };

  return new Promise<HeldBackup>((resolve, reject) => {
    let settled = false;
    const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    const onAbort = (): void => {
      // As when pre dies: the holder gives the start up once its IPC channel closes.
      if (child.connected) child.disconnect();
      fail(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      // Wait (briefly) for the holder to be gone, so nothing of it is left when pre exits.
      void Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
        .then(() => cleanUpAfterFailure(child.pid))
        .then(() => reject(error), () => reject(error));
    };
    child.once('error', (error) => fail(new BackupError('HOLDER_FAILED', `Could not start the holder process: ${error.message}`, { cause: error })));
    child.once('exit', (code, signal) => {
      const tail = logTail(startLog);
      fail(
        new BackupError('HOLDER_FAILED', `The holder process exited (${signal ?? `code ${code}`}) before the backup started.${tail ? `\nIts log:\n${tail}` : ''}`, {
          details: { id: options.id },
        }),
      );
    });
    child.on('message', (message: HolderMessage) => {
      if (settled) return;
      if (message?.type === 'started') {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        child.disconnect();
        child.unref();
        resolve(message.backup);
      } else if (message?.type === 'failed') {
        fail(responseError(message.error));
      } else if (message?.type === 'progress') {
        options.onProgress?.(message.progress);
      }
    });
    child.send(configMessage(config), (error) => {
      if (error) fail(new BackupError('HOLDER_FAILED', `Could not hand the configuration to the holder: ${error.message}`, { cause: error }));
    });
  });
}
