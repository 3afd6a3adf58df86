import { channel } from 'node:diagnostics_channel';
import { chmod, rename } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { BackupError, isBackupError } from '../../errors.js';
import { BackupSession } from '../../session/backup-session.js';
import type { Logger } from '../../session/options.js';
import { defaultSpoolDirectory } from '../../spool/spool.js';
import { ENCRYPTION_KEY_FILE_VARIABLE, ENCRYPTION_KEY_VARIABLE, encryptionFrom } from '../../crypto/keyring.js';
import { openStore } from '../../stores/store-url.js';
import { summaryOverview } from '../../summary/summary.js';
import { acquireLock, releaseLock } from '../state/lock.js';
import { selfIdentity } from '../state/process.js';
import { seconds } from '../../util/seconds.js';
import { abortedEnding, crashedEnding, endedResponse, failedStopEnding, lostEnding, stoppedEnding, type Ending } from '../outcome.js';
import {
  decodeRequest,
  encodeProgress,
  encodeResponse,
  MAX_REQUEST_BYTES,
  type HeldBackup,
  type HolderConfig,
  type HolderRequest,
  type HolderResponse,
  type HolderStatus,
  type ProgressUpdate,
} from '../protocol.js';
import { readRecord, removeQuietly, writeRecord, type BackupRecord } from '../state/record.js';
import { agentPaths, ensureRuntimeDir, type AgentPaths } from '../state/runtime-dir.js';

/**
 * The `node:diagnostics_channel` a holder reports its milestones on, for instrumentation (and the
 * fault tests in test/agent/holder-faults.ts). Nothing is published when nobody subscribes.
 */
export const HOLDER_DIAGNOSTICS_CHANNEL = 'pg-split-backup:holder';

/** What a holder publishes on {@link HOLDER_DIAGNOSTICS_CHANNEL}. */
export type HolderDiagnostic =
  /** The backup is held: the start is confirmed, the socket listens, the record says `running`. */
  | { readonly event: 'held'; readonly id: string }
  /** The stop's summary is in the spool, before any sink write. */
  | { readonly event: 'spooled'; readonly id: string; readonly path: string };

const diagnostics = channel(HOLDER_DIAGNOSTICS_CHANNEL);

function publish(message: HolderDiagnostic): void {
  if (diagnostics.hasSubscribers) diagnostics.publish(message);
}

/** Any failure as a BackupError (an unexpected one keeps its message under `HOLDER_FAILED`). */
export function toBackupError(error: unknown): BackupError {
  if (isBackupError(error)) return error;
  return new BackupError('HOLDER_FAILED', (error as Error)?.message ?? String(error), { cause: error });
}

function errorResponse(error: unknown): HolderResponse {
  return { kind: 'failed', error: toBackupError(error).toJSON() };
}

/**
 * The holder: owns one {@link BackupSession} from start to stop, answers `status`/`stop`/`abort`
 * on its Unix socket, and leaves a record of how the backup ended. One holder per backup ID,
 * guaranteed by an O_EXCL lock file.
 *
 * Life: {@link start} (lock, server start, socket, record `running`) → one of: a `stop` request
 * (record `stopped`), an `abort` request or a signal (`aborted`), the session lost or a crash
 * (`lost`) → socket and lock removed, {@link done} resolves with the exit code.
 */
export class Holder {
  readonly #config: HolderConfig;
  readonly #paths: AgentPaths;
  readonly #log: Logger;
  #session: BackupSession | undefined;
  #server: Server | undefined;
  #record: BackupRecord | undefined;
  #held: HeldBackup | undefined;
  #stopping: Promise<HolderResponse> | undefined;
  #ending: Promise<void> | undefined;
  #lockTaken = false;
  #logRenamed = false;
  #cancelReason: string | undefined;
  readonly #progressLogged = new Map<string, number>();
  readonly #savedTo: string[] = [];
  readonly #inflight = new Set<Promise<void>>();
  /** Sockets of stop requests that asked for progress lines. */
  readonly #progressSockets = new Set<Socket>();
  readonly #onStartProgress: ((progress: ProgressUpdate) => void) | undefined;
  readonly #done: Promise<number>;
  #resolveDone!: (code: number) => void;

  /** @param onStartProgress receives progress until the backup has started (pre forwards it). */
  constructor(config: HolderConfig, log: Logger, onStartProgress?: (progress: ProgressUpdate) => void) {
    this.#onStartProgress = onStartProgress;
    this.#config = config;
    this.#paths = agentPaths(config.runtimeDir, config.id);
    this.#log = log;
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Resolves with the process exit code once the backup has ended and every answer is sent. */
  get done(): Promise<number> {
    return this.#done;
  }

  /**
   * Takes the ID's lock, starts the backup, opens the control socket and writes the record.
   * On failure nothing is left behind (no lock, socket or record) and the error is thrown.
   */
  async start(): Promise<HeldBackup> {
    const config = this.#config;
    const paths = this.#paths;
    try {
      await ensureRuntimeDir(config.runtimeDir);
      await acquireLock(paths, config.id);
      this.#lockTaken = true;
      const previous = await readRecord(paths.record);
      if (previous?.state === 'stopped') {
        throw new BackupError('ALREADY_EXISTS', `Backup ${config.id} was already taken and stopped at ${previous.endedAt ?? '?'}; use a new ID.`, {
          details: { id: config.id },
        });
      }
      // An older attempt's tombstone (or the record of a holder that died) is superseded now.
      await removeQuietly(paths.record);
      this.#throwIfCancelled();
      // Keys from pre's environment came over IPC; the files are read here, once.
      const encryption = await encryptionFrom(config, { ...(config.encryptionKeys !== undefined ? { [ENCRYPTION_KEY_VARIABLE]: config.encryptionKeys } : {}), ...(process.env[ENCRYPTION_KEY_FILE_VARIABLE] !== undefined ? { [ENCRYPTION_KEY_FILE_VARIABLE]: process.env[ENCRYPTION_KEY_FILE_VARIABLE] } : {}) });
      const sinks = await Promise.all(config.sinks.map((url) => openStore(url, encryption !== undefined ? { encryption } : {})));
      if (config.password !== undefined) process.env.PGPASSWORD = config.password;
      const connection = 'uri' in config.connection ? config.connection.uri : 'database' in config.connection ? { database: config.connection.database } : {};
      const session = new BackupSession({
        id: config.id,
        connection,
        sinks,
        fast: config.fast,
        waitForArchive: config.waitForArchive,
        includeWal: config.includeWal ?? false,
        maxHoldMs: config.maxHoldMs,
        spoolDirectory: config.spoolDirectory ?? defaultSpoolDirectory(),
        logger: this.#log,
        ...(config.archiveTimeoutMs !== undefined ? { archiveTimeoutMs: config.archiveTimeoutMs } : {}),
        ...(config.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: config.heartbeatIntervalMs } : {}),
      });
      this.#session = session;
      session.on('waiting-for-checkpoint', ({ elapsedMs, fast }) =>
        this.#progress({
          phase: 'checkpoint',
          message: `waiting for the server's start checkpoint (${fast ? 'immediate' : 'spread; pre --fast makes it immediate'}), ${seconds(elapsedMs)}`,
          elapsedMs,
        }),
      );
      session.on('waiting-for-archive', ({ walFile, elapsedMs, lastArchivedWal, lastFailedWal }) => {
        const failed = lastFailedWal === null ? '' : `, last failed: ${lastFailedWal}`;
        this.#progress({ phase: 'archive', message: `waiting for WAL file ${walFile} to be archived, ${seconds(elapsedMs)} (last archived: ${lastArchivedWal ?? 'none'}${failed})`, elapsedMs });
      });
      session.on('sink-retry', ({ sink, attempt, retriesLeft, error }) => {
        this.#log('warn', `sink ${sink}: attempt ${attempt} failed: ${error.message}`);
        this.#progress({ phase: 'sink-retry', message: `sink ${sink}: attempt ${attempt} failed (${error.message}); ${retriesLeft} retries left` });
      });
      session.on('sink-written', ({ receipt }) => this.#savedTo.push(receipt.location));
      session.on('spooled', ({ path }) => {
        this.#log('info', `summary persisted in the spool at ${path}`);
        publish({ event: 'spooled', id: config.id, path });
      });
      this.#throwIfCancelled();
      const started = await session.start();
      session.on('lost', ({ reason, error }) => this.#onLost(reason, error));

      await removeQuietly(paths.socket); // ours to replace: we hold the lock
      const server = createServer((socket) => this.#serve(socket));
      this.#server = server;
      const umask = process.umask(0o177); // the socket file is born 0600
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(paths.socket, () => resolve());
        });
      } finally {
        process.umask(umask);
      }
      server.on('error', (error) => this.#log('error', `control socket: ${error.message}`));
      await chmod(paths.socket, 0o600);

      if (config.startLog !== undefined) {
        await rename(config.startLog, paths.log);
        this.#logRenamed = true;
      }
      const self = selfIdentity();
      // What the record and pre's report share.
      const { startLsn, startWalFile, timeline, serverVersion, startedAt } = started;
      const facts = { startLsn, startWalFile, timeline, serverVersion, startedAt, maxHoldMs: config.maxHoldMs };
      this.#record = {
        v: 1,
        id: config.id,
        state: 'running',
        pid: self.pid,
        ...(self.startTicks !== undefined ? { startTicks: self.startTicks } : {}),
        ...facts,
        sinks: config.sinks,
        spoolDirectory: config.spoolDirectory ?? defaultSpoolDirectory(),
        waitForArchive: config.waitForArchive,
        ...(config.encryptionKeyFiles !== undefined ? { encryptionKeyFiles: config.encryptionKeyFiles } : {}),
        ...(config.requireEncrypted === true ? { requireEncrypted: true } : {}),
      };
      await writeRecord(paths.record, this.#record);
      // Lost (or cancelled) while the socket and record were being set up.
      if (session.state !== 'running') throw session.failure ?? new BackupError('BACKUP_ABORTED', `Backup ${config.id} ended during its start.`);
      this.#throwIfCancelled();
      this.#held = Object.freeze({
        id: config.id,
        pid: process.pid,
        ...facts,
        runtimeDir: config.runtimeDir,
        log: paths.log,
      });
      this.#log('info', `backup ${config.id} held by pid ${process.pid} since ${started.startLsn} (${started.startWalFile}); control socket ${paths.socket}`);
      publish({ event: 'held', id: config.id });
      return this.#held;
    } catch (error) {
      const failure = toBackupError(error);
      this.#log('error', `start failed: ${failure.message}`);
      await this.#session?.abort(this.#cancelReason ?? 'the holder could not finish its start').catch(() => undefined);
      this.#server?.close();
      // Only the lock's owner may touch the ID's files: a refused duplicate must not harm the holder.
      if (this.#lockTaken) {
        await removeQuietly(paths.socket, paths.record);
        // Back where pre removes it: a failed start leaves nothing behind.
        if (this.#logRenamed && config.startLog !== undefined) await rename(paths.log, config.startLog).catch(() => undefined);
        await releaseLock(paths);
      }
      this.#resolveDone(1);
      throw failure;
    }
  }

  /**
   * Ends the backup without a summary because of `reason` (a signal, `pre` gone before the start
   * was confirmed). During start, makes start fail. A stop under way is left to finish: the server
   * may already have ended the backup, and its summary must be saved.
   */
  cancel(reason: string): void {
    if (this.#held === undefined) {
      this.#cancelReason ??= reason;
      void this.#session?.abort(reason);
      return;
    }
    if (this.#stopping !== undefined) {
      this.#log('warn', `${reason}: a stop is under way, finishing it first`);
      return;
    }
    void this.#abort(reason).catch((error: unknown) => this.#log('error', `abort failed: ${(error as Error).message}`));
  }

  /** An unexpected error in the holder: give the backup up (if not being stopped) and leave a tombstone. */
  async crash(error: unknown): Promise<void> {
    const message = (error as Error)?.stack ?? String(error);
    this.#log('error', `holder crashed: ${message}`);
    if (this.#held === undefined) {
      this.cancel(`the holder crashed: ${(error as Error)?.message ?? String(error)}`);
      return;
    }
    const ending = crashedEnding(toBackupError(error));
    await this.#session?.abort(ending.update.reason!).catch(() => undefined);
    await this.#finish(ending);
  }

  #throwIfCancelled(): void {
    if (this.#cancelReason !== undefined) {
      throw new BackupError('BACKUP_ABORTED', `Backup ${this.#config.id} was aborted during its start: ${this.#cancelReason}.`, {
        details: { id: this.#config.id, reason: this.#cancelReason },
      });
    }
  }

  #onLost(reason: string, error: BackupError): void {
    // During start, start() notices the state; during a stop, the stop reports it.
    if (this.#held === undefined || this.#stopping !== undefined) return;
    void this.#finish(lostEnding(reason, error));
  }

  async #abort(reason: string): Promise<HolderResponse> {
    if (this.#ending !== undefined) {
      await this.#ending;
      return endedResponse(this.#record!);
    }
    await this.#session!.abort(reason);
    await this.#finish(abortedEnding(reason));
    return { kind: 'aborted', id: this.#config.id, reason };
  }

  async #stop(): Promise<HolderResponse> {
    if (this.#ending !== undefined) {
      await this.#ending;
      return endedResponse(this.#record!);
    }
    const session = this.#session!;
    this.#record = { ...this.#record!, state: 'stopping' };
    await writeRecord(this.#paths.record, this.#record).catch((error: Error) => this.#log('warn', `could not update the record: ${error.message}`));
    try {
      const { summary, receipts } = await session.stop();
      await this.#finish(stoppedEnding({ stopLsn: summary.stopLsn, stopWalFile: summary.stopWalFile, summaryLocations: receipts.map((r) => r.location) }));
      return { kind: 'stopped', id: this.#config.id, summary: summaryOverview(summary), receipts };
    } catch (error) {
      const failure = toBackupError(error);
      await this.#finish(
        failedStopEnding(failure, {
          id: this.#config.id,
          serverStopped: session.serverStopped,
          sessionAborted: session.state === 'aborted',
          savedTo: this.#savedTo,
          waitForArchive: this.#config.waitForArchive,
        }),
      );
      return errorResponse(failure);
    }
  }

  #status(): HolderResponse {
    if (this.#ending !== undefined) return endedResponse(this.#record!);
    const status: HolderStatus = {
      ...this.#held!,
      state: this.#stopping === undefined ? 'running' : 'stopping',
      heldForMs: Date.now() - Date.parse(this.#held!.startedAt),
      sinks: this.#config.sinks,
    };
    return { kind: 'status', backup: status };
  }

  /** Logs a wait at most once per 10 s per phase, and forwards it to whoever listens. */
  #progress(progress: ProgressUpdate): void {
    const now = Date.now();
    const last = this.#progressLogged.get(progress.phase) ?? 0;
    if (progress.phase !== 'sink-retry' && now - last >= 10_000) {
      this.#progressLogged.set(progress.phase, now);
      this.#log('info', progress.message);
    } else {
      this.#log('debug', progress.message);
    }
    if (this.#held === undefined) this.#onStartProgress?.(progress);
    const line = encodeProgress(progress);
    for (const socket of this.#progressSockets) if (socket.writable) socket.write(line);
  }

  async #handle(request: HolderRequest, socket: Socket): Promise<HolderResponse> {
    switch (request.op) {
      case 'status':
        return this.#status();
      case 'stop':
        if (request.progress === true) this.#progressSockets.add(socket);
        // A second stop waits for the same outcome.
        this.#stopping ??= this.#stop();
        return this.#stopping;
      case 'abort':
        if (this.#stopping !== undefined) {
          return errorResponse(new BackupError('INVALID_STATE', `Backup ${this.#config.id} is being stopped; it can no longer be aborted.`, { details: { id: this.#config.id } }));
        }
        return this.#abort(request.reason !== undefined && request.reason !== '' ? request.reason.slice(0, 500) : 'aborted on request (pg-split-backup abort)');
    }
  }

  #serve(socket: Socket): void {
    let buffer = '';
    let answered = false;
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) {
        if (buffer.length > MAX_REQUEST_BYTES) socket.destroy();
        return;
      }
      answered = true;
      let request: HolderRequest;
      try {
        request = decodeRequest(buffer.slice(0, newline));
      } catch (error) {
        socket.end(encodeResponse(errorResponse(error)));
        return;
      }
      const work = this.#handle(request, socket)
        .catch((error: unknown) => errorResponse(error))
        .then((response) => {
          this.#progressSockets.delete(socket);
          return response;
        })
        .then((response) => new Promise<void>((resolve) => socket.end(encodeResponse(response), () => resolve())))
        .finally(() => this.#inflight.delete(work));
      this.#inflight.add(work);
    });
  }

  /** Ends the holder once: the record says how, the socket and lock go away, then `done` resolves. */
  #finish({ update, exitCode }: Ending): Promise<void> {
    this.#ending ??= (async () => {
      const record: BackupRecord = { ...this.#record!, ...update, endedAt: new Date().toISOString() };
      this.#record = record;
      // The record first: whoever finds the socket gone must find the outcome.
      await writeRecord(this.#paths.record, record).catch((error: Error) => this.#log('error', `could not write the record ${this.#paths.record}: ${error.message}`));
      const how = record.state === 'stopped' ? (record.error ? `stopped, but ${record.error.code}: ${record.error.message}` : `stopped at ${record.stopLsn}`) : `${record.state}: ${record.reason}`;
      this.#log(record.state === 'stopped' && !record.error ? 'info' : 'warn', `holder: backup ${record.id} ended, ${how}; record ${this.#paths.record}`);
      this.#server?.close();
      await removeQuietly(this.#paths.socket);
      await releaseLock(this.#paths);
      // Let the answers (the one that ended it among them) reach their clients, then go.
      void (async () => {
        await new Promise((resolve) => setImmediate(resolve));
        await Promise.race([Promise.allSettled([...this.#inflight]), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
        this.#resolveDone(exitCode);
      })();
    })();
    return this.#ending;
  }
}
