import { EventEmitter } from 'eventemitter3';
import type pg from 'pg';
import { BackupError, isBackupError } from '../errors.js';
import { waitForArchived } from '../postgres/archive-wait.js';
import { connect } from '../postgres/connect.js';
import {
  applySessionSettings,
  checkpointTimeline,
  closeClient,
  ping,
  readStandbyControl,
  readWalSegments,
  refusalError,
  releaseWal,
  reserveWal,
  startBackupCall,
  stopBackupCall,
  type StandbyControl,
  type StopOutput,
} from '../postgres/held-backup.js';
import { preflight, readServerInfo, type ServerInfo } from '../postgres/server-info.js';
import type { CallOptions, SinkReceipt } from '../sinks/contract.js';
import { summaryNotSaved } from '../sinks/failure.js';
import { writeToSinks } from '../sinks/fan-out.js';
import { Spool } from '../spool/spool.js';
import { buildSummary, withAttachments } from '../summary/build.js';
import type { BackupSummary, SummaryAttachment } from '../summary/summary.js';
import { neededWalFiles } from '../summary/wal-range.js';
import { walFileName } from '../summary/wal-file.js';
import { abortReason, throwIfAborted } from '../util/abort.js';
import { TOOL } from '../version.js';
import { guardListeners } from './guarded-emitter.js';
import type { BackupSessionEvents, SessionState, StartResult, StopResult } from './events.js';
import { resolveOptions, type BackupSessionOptions, type ResolvedOptions } from './options.js';

/** How often `waiting-for-checkpoint` is emitted. */
const CHECKPOINT_PROGRESS_MS = 1000;

/**
 * One non-exclusive base backup, held in one dedicated server session from {@link start} to
 * {@link stop}. Copy the data directory in between; the summary stop produces goes to every sink.
 *
 * @example
 * ```ts
 * import { BackupSession, FilesystemSummaryStore } from 'pg-split-backup';
 *
 * const session = new BackupSession({
 *   id: 'nightly-2026-11-25',
 *   connection: 'postgresql://backup@db.example/postgres',
 *   sinks: [new FilesystemSummaryStore({ directory: '/var/backups/pg-summaries' })],
 * });
 * session.on('lost', ({ reason }) => console.error('backup invalid:', reason));
 * await session.start();
 * await copyDataDirectory(); // your backup program
 * const { summary } = await session.stop();
 * ```
 */
export class BackupSession extends EventEmitter<BackupSessionEvents> {
  readonly #options: ResolvedOptions;
  #state: SessionState = 'idle';
  #client: pg.Client | undefined;
  #server: ServerInfo | undefined;
  #start: StartResult | undefined;
  #failure: BackupError | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #heartbeatInFlight: Promise<void> | undefined;
  #maxHoldTimer: NodeJS.Timeout | undefined;
  readonly #spoolStore: Spool;
  #spoolPath: string | undefined;
  #slotName: string | undefined;
  /** Set when stop could not read pg_control or the WAL into the summary: stop() fails after saving it. */
  #attachmentFailure: BackupError | undefined;
  /** Set once the server has stopped the backup: from then on the summary is the truth. */
  #serverStopped = false;
  readonly #controller = new AbortController();
  readonly #onExternalAbort = (): void => {
    void this.abort(`signal: ${String(this.#options.signal?.reason ?? 'aborted')}`);
  };

  /** Validates the options; throws `INVALID_ID`/`INVALID_OPTION`. Opens no connection. */
  constructor(options: BackupSessionOptions) {
    super();
    this.#options = resolveOptions(options);
    this.#spoolStore = new Spool({ directory: this.#options.spoolDirectory });
    // Each listener's fault is its own: one that throws neither breaks the session nor skips the others.
    guardListeners(this, (event, error) => this.#log('error', `a listener of "${event}" threw: ${(error as Error)?.message ?? String(error)}`));
  }

  /** The backup ID (= label). */
  get id(): string {
    return this.#options.id;
  }

  /** The current state. */
  get state(): SessionState {
    return this.#state;
  }

  /** What start returned, once running. */
  get startResult(): StartResult | undefined {
    return this.#start;
  }

  /** Why the session failed or was aborted, if it did. */
  get failure(): BackupError | undefined {
    return this.#failure;
  }

  /**
   * True once the server has ended the backup in stop(): from then on its summary exists (in the
   * spool, the sinks, or as stop's raw output), whatever else failed, and abort() cannot undo it.
   */
  get serverStopped(): boolean {
    return this.#serverStopped;
  }

  /** The spooled copy of the summary, while it exists (after stop persisted it). */
  get spoolPath(): string | undefined {
    return this.#spoolPath;
  }

  /**
   * Connects, checks the server (version, wal_level, archiving, privileges), makes the session
   * immune to server timeouts, and starts the backup.
   * @throws BackupError `CONNECTION_FAILED`, `SERVER_SETTING`, `PRIVILEGE`, `UNSUPPORTED_SERVER`,
   * `SERVER_ERROR`, `BACKUP_ABORTED` (aborted meanwhile) or `INVALID_STATE` (not idle).
   */
  async start(options: CallOptions = {}): Promise<StartResult> {
    this.#expectState('start', ['idle']);
    this.#setState('starting');
    const { signal } = options;
    const external = this.#options.signal;
    try {
      throwIfAborted(external);
      throwIfAborted(signal);
      external?.addEventListener('abort', this.#onExternalAbort, { once: true });
      const combined = AbortSignal.any([this.#controller.signal, ...(signal ? [signal] : [])]);
      this.#client = await connect(this.#options.connection, {
        applicationName: `pg-split-backup ${this.id}`.slice(0, 63),
        retries: this.#options.connectRetries,
        signal: combined,
        keepAliveInitialDelayMillis: Math.max(1000, this.#options.heartbeatInterval),
        connectionTimeoutMillis: 30_000,
      });
      if (this.#state !== 'starting') throw this.#notRunningError();
      const client = this.#client;
      client.on('end', () => this.#lose('the server closed the connection'));
      client.on('error', (error) => this.#lose(`connection error: ${error.message}`, error));
      const server = await readServerInfo(client);
      this.#server = server;
      this.#log('debug', `connected to PostgreSQL ${server.serverVersion}`, { ...server });
      preflight(server, { requireArchiving: this.#options.requireArchiving, includeWal: this.#options.includeWal });
      await applySessionSettings(client, server.serverVersion);
      throwIfAborted(signal);
      // Reserved before start, so no WAL the backup needs can be removed before stop reads it.
      if (this.#options.includeWal) this.#slotName = await reserveWal(client);
      const checkpointBegan = Date.now();
      const ticker = setInterval(() => this.#emit('waiting-for-checkpoint', { elapsedMs: Date.now() - checkpointBegan, fast: this.#options.fast }), CHECKPOINT_PROGRESS_MS);
      ticker.unref();
      this.#log('debug', `starting the backup (fast: ${this.#options.fast})`);
      const startLsn = await this.#serverCall(() => startBackupCall(client, server.serverVersion, this.id, this.#options.fast), 'start').finally(() => clearInterval(ticker));
      const timeline = await checkpointTimeline(client);
      this.#start = Object.freeze({
        id: this.id,
        startLsn,
        startWalFile: walFileName(timeline, startLsn, server.walSegmentSize),
        timeline,
        serverVersion: server.serverVersion,
        systemIdentifier: server.systemIdentifier,
        fromStandby: server.inRecovery,
        startedAt: new Date().toISOString(),
      });
      if (this.#state !== 'starting') throw this.#notRunningError();
      this.#setState('running');
      this.#armTimers();
      this.#log('info', `backup ${this.id} started at ${startLsn}`, { ...this.#start });
      this.#emit('started', this.#start);
      return this.#start;
    } catch (error) {
      const failure = this.#state === 'aborted' || this.#state === 'failed' ? this.#notRunningError(error) : toBackupError(error);
      await this.#closeConnection();
      if (this.#state === 'starting') this.#fail(failure);
      throw failure;
    }
  }

  /**
   * Stops the backup in the same server session, persists the summary to the local spool, writes
   * it to every sink, then (with `waitForArchive`) waits until its last WAL file is archived.
   * @throws BackupError `BACKUP_ABORTED` (session lost or aborted), `SINK_FAILED` (summary kept in
   * the spool: `details.spoolPath`), `ARCHIVE_TIMEOUT` (summary saved, WAL not archived in time),
   * `INVALID_STATE`.
   */
  async stop(options: CallOptions = {}): Promise<StopResult> {
    if (this.#state === 'failed' || this.#state === 'aborted') throw this.#notRunningError();
    this.#expectState('stop', ['running']);
    this.#setState('stopping');
    this.#disarmTimers();
    const { signal } = options;
    const client = this.#client!;
    const server = this.#server!;
    let summary: BackupSummary;
    let stopped: StopOutput | undefined;
    try {
      await this.#heartbeatInFlight;
      if (this.#state !== 'stopping') throw this.#notRunningError();
      const row = await this.#serverCall(() => stopBackupCall(client, server.serverVersion), 'stop');
      stopped = row;
      this.#serverStopped = true;
      // The backup is complete on the server: losing the connection now must not invalidate it.
      this.#detachLossHandlers(client);
      summary = await this.#summarize(client, row.lsn, row.labelfile, row.spcmapfile ?? '');
    } catch (error) {
      let failure = this.#state === 'stopping' ? toBackupError(error) : this.#notRunningError(error);
      // The server has ended the backup but no summary could be made: keep what it returned.
      if (stopped !== undefined) failure = await this.#keepRawStopOutput(stopped, failure);
      await this.#closeConnection();
      this.#fail(failure);
      throw failure;
    }
    try {
      await this.#spool(summary);
      let sinkFailure: BackupError | undefined;
      const receipts = await this.#writeSinks(summary, signal).catch((error: unknown) => {
        if (!isBackupError(error, 'SINK_FAILED')) throw error;
        sinkFailure = error;
        return [];
      });
      if (this.#attachmentFailure) throw this.#attachmentFailure;
      if (this.#options.waitForArchive) {
        const archived = this.#waitForArchive(client, summary, signal).catch((error: unknown) => {
          if (isBackupError(error)) throw error;
          throw new BackupError('SERVER_ERROR', `The summary of backup ${this.id} is saved, but checking that its WAL was archived failed: ${(error as Error).message}. Check that ${summary.stopWalFile} reaches the archive.`, {
            cause: error,
            details: { id: this.id, walFile: summary.stopWalFile },
          });
        });
        // Even when a sink failed: whoever delivers the spooled summary later needs to know.
        if (sinkFailure === undefined) await archived;
        else sinkFailure = await archived.then(
          () => withDetails(sinkFailure!, { walArchived: true }),
          (error: unknown) => withDetails(sinkFailure!, { walArchived: false, archiveError: toBackupError(error).toJSON() }),
        );
      }
      if (sinkFailure !== undefined) throw sinkFailure;
      const outcome: StopResult = Object.freeze({ summary, receipts: Object.freeze(receipts) });
      this.#setState('stopped');
      this.#log('info', `backup ${this.id} stopped at ${summary.stopLsn}`, { stopWalFile: summary.stopWalFile });
      this.#emit('stopped', outcome);
      return outcome;
    } catch (error) {
      const failure = toBackupError(error);
      this.#fail(failure);
      throw failure;
    } finally {
      await this.#closeConnection();
    }
  }

  /** Writes stop's raw output beside the spool, so a summary that could not be built is not lost. */
  async #keepRawStopOutput(raw: StopOutput, failure: BackupError): Promise<BackupError> {
    let path: string;
    try {
      path = await this.#spoolStore.keepRawStopOutput({ id: this.id, stopLsn: raw.lsn, labelFile: raw.labelfile, tablespaceMap: raw.spcmapfile ?? '' });
    } catch (error) {
      this.#warn(`Could not keep stop's raw output either: ${(error as Error).message}. backup_label was:\n${raw.labelfile}`);
      return failure;
    }
    return new BackupError(failure.code, `${failure.message} What the server returned at stop is kept in ${path}.`, {
      cause: failure,
      details: { ...failure.details, rawStopOutput: path },
    });
  }

  /**
   * Ends the backup without a summary by closing its server session; the server then aborts the
   * backup itself. Idempotent and safe in every state; a no-op once the server has stopped the
   * backup (its summary is then being saved, and abort cannot take it back).
   */
  async abort(reason = 'aborted by request'): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'aborted' || this.#serverStopped) return;
    const wasFailed = this.#state === 'failed';
    this.#disarmTimers();
    if (!wasFailed) {
      this.#failure = new BackupError('BACKUP_ABORTED', `Backup ${this.id} was aborted: ${reason}.`, { details: { id: this.id, reason } });
      this.#setState('aborted');
    }
    this.#controller.abort(this.#failure);
    await this.#closeConnection();
    if (!wasFailed) {
      this.#log('warn', `backup ${this.id} aborted: ${reason}`);
      this.#emit('aborted', { reason });
    }
  }

  /** Aborts unless stopped, so `await using session = new BackupSession(...)` never leaks a backup. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort('session disposed before stop');
  }

  async #summarize(client: pg.Client, stopLsn: string, labelFile: string, tablespaceMap: string): Promise<BackupSummary> {
    const server = this.#server!;
    const attachments: SummaryAttachment[] = [];
    // Anything read after the server stopped the backup may fail: the label must survive that.
    const attach = async <T>(what: string, read: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await read();
      } catch (error) {
        this.#attachmentFailure ??= new BackupError(
          'SERVER_ERROR',
          `The summary of backup ${this.id} is saved, but ${what} could not be read into it: ${(error as Error).message}. Do not rely on this backup.`,
          { cause: error, details: { id: this.id } },
        );
        this.#warn(this.#attachmentFailure.message);
        return undefined;
      }
    };
    let standby: StandbyControl | undefined;
    if (server.inRecovery) {
      standby = await attach("the standby's pg_control", () => readStandbyControl(client));
      if (standby !== undefined) attachments.push({ name: 'global/pg_control', body: standby.body });
    }
    const summary = buildSummary({
      id: this.id,
      labelFile,
      tablespaceMap,
      stopLsn,
      walSegmentSize: server.walSegmentSize,
      serverVersion: server.serverVersion,
      systemIdentifier: server.systemIdentifier,
      startedAt: this.#start!.startedAt,
      stoppedAt: new Date().toISOString(),
      tool: TOOL,
      recoveryEnd: standby,
    });
    if (this.#options.includeWal) {
      const wal = await attach('its WAL', () => readWalSegments(client, neededWalFiles(summary)));
      if (wal !== undefined) {
        attachments.push(...wal);
        this.#log('info', `included ${wal.length} WAL files in the summary of backup ${this.id}`);
      }
      await releaseWal(client, this.#slotName!);
    }
    return withAttachments(summary, attachments);
  }

  async #spool(summary: BackupSummary): Promise<void> {
    try {
      this.#spoolPath = await this.#spoolStore.put(summary);
      this.#emit('spooled', { path: this.#spoolPath });
    } catch (error) {
      // The summary is still in memory: the sinks may yet save it, so carry on, loudly.
      this.#warn(`Could not persist the summary to the spool ${this.#spoolStore.directory}: ${(error as Error).message}`);
    }
  }

  async #writeSinks(summary: BackupSummary, signal: AbortSignal | undefined): Promise<SinkReceipt[]> {
    const { receipts, failures } = await writeToSinks(summary, this.#options.sinks, {
      retries: this.#options.sinkRetries,
      ...(signal ? { signal } : {}),
      onRetry: ({ sink, attempt, retriesLeft, error }) => this.#emit('sink-retry', { sink, attempt, retriesLeft, error }),
      onWritten: (sink, receipt) => this.#emit('sink-written', { sink, receipt }),
    });
    if (failures.length > 0) throw summaryNotSaved(summary, failures, this.#spoolPath);
    if (this.#spoolPath !== undefined) {
      await this.#spoolStore.remove(summary.id).catch((error: Error) => {
        this.#warn(`Could not remove the delivered summary from the spool: ${error.message}`);
      });
      this.#spoolPath = undefined;
    }
    return receipts as SinkReceipt[];
  }

  async #waitForArchive(client: pg.Client, summary: BackupSummary, signal: AbortSignal | undefined): Promise<void> {
    const server = this.#server!;
    if (server.inRecovery && server.archiveMode !== 'always') {
      this.#warn(
        `Backup ${this.id} was taken from a standby without archive_mode=always: its WAL is archived by the primary, ` +
          `which this session cannot see. Make sure ${summary.stopWalFile} reaches the archive (run SELECT pg_switch_wal() on the primary).`,
      );
      return;
    }
    if (server.archiveMode === 'off') {
      this.#warn(`WAL archiving is off: ensure the WAL through ${summary.stopWalFile} reaches the restore by other means.`);
      return;
    }
    await waitForArchived(client, {
      id: this.id,
      walFile: summary.stopWalFile,
      exact: server.canStatFile,
      timeoutMs: this.#options.archiveTimeout,
      signal,
      onWaiting: ({ elapsedMs, lastArchivedWal, lastFailedWal }) => this.#emit('waiting-for-archive', { walFile: summary.stopWalFile, elapsedMs, lastArchivedWal, lastFailedWal }),
    });
  }

  #armTimers(): void {
    const { heartbeatInterval, maxHold } = this.#options;
    this.#heartbeat = setInterval(() => {
      if (this.#heartbeatInFlight === undefined) this.#heartbeatInFlight = this.#beat().finally(() => (this.#heartbeatInFlight = undefined));
    }, heartbeatInterval);
    this.#heartbeat.unref();
    if (maxHold > 0) {
      this.#maxHoldTimer = setTimeout(() => {
        this.#lose(`it was held longer than the maximum of ${Math.round(maxHold / 1000)} s (maxHold)`);
      }, maxHold);
      this.#maxHoldTimer.unref();
    }
  }

  #disarmTimers(): void {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#maxHoldTimer);
    this.#heartbeat = undefined;
    this.#maxHoldTimer = undefined;
  }

  async #beat(): Promise<void> {
    const client = this.#client;
    if (client === undefined || this.#state !== 'running') return;
    const began = performance.now();
    try {
      // A reply slower than one interval means the path is dead (a silent drop shows no error).
      await ping(client, this.#options.heartbeatInterval);
      if (this.#state === 'running') {
        const latencyMs = Math.round(performance.now() - began);
        this.#log('debug', `heartbeat answered in ${latencyMs} ms`);
        this.#emit('heartbeat', { at: new Date().toISOString(), latencyMs });
      }
    } catch (error) {
      this.#lose(`the heartbeat failed: ${(error as Error).message}`, error);
    }
  }

  /** The held server session is gone or must be given up: the backup is invalid. */
  #lose(reason: string, cause?: unknown): void {
    if (this.#state !== 'running' && this.#state !== 'starting' && this.#state !== 'stopping') return;
    const error = new BackupError('BACKUP_ABORTED', `Backup ${this.id} is invalid: ${reason}. The server has aborted it; take a new backup.`, {
      cause,
      details: { id: this.id, reason },
    });
    this.#disarmTimers();
    this.#fail(error);
    this.#log('error', error.message);
    this.#emit('lost', { reason, error });
    void this.#closeConnection();
  }

  #fail(error: BackupError): void {
    if (this.#state === 'failed' || this.#state === 'aborted') return;
    this.#failure = error;
    this.#setState('failed');
    this.#controller.abort(error);
    this.#emit('error', { error });
  }

  async #serverCall<T>(call: () => Promise<T>, what: 'start' | 'stop'): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const refusal = refusalError(error, what);
      if (refusal !== undefined) throw refusal;
      if (this.#state !== 'starting' && this.#state !== 'stopping') throw this.#notRunningError(error);
      throw new BackupError('SERVER_ERROR', `The server failed to ${what} backup ${this.id}: ${(error as Error).message}`, {
        cause: error,
        details: { sqlState: (error as { code?: string }).code },
      });
    }
  }

  async #closeConnection(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#options.signal?.removeEventListener('abort', this.#onExternalAbort);
    if (client === undefined) return;
    this.#detachLossHandlers(client);
    await closeClient(client, 2000);
  }

  #detachLossHandlers(client: pg.Client): void {
    client.removeAllListeners('end');
    client.removeAllListeners('error');
    client.on('error', () => undefined);
  }

  #notRunningError(cause?: unknown): BackupError {
    return (
      this.#failure ??
      new BackupError('BACKUP_ABORTED', `Backup ${this.id} is not running.`, { cause, details: { id: this.id, reason: 'not running' } })
    );
  }

  #expectState(method: string, allowed: SessionState[]): void {
    if (!allowed.includes(this.#state)) {
      throw new BackupError('INVALID_STATE', `Cannot ${method}() backup ${this.id} in state ${this.#state} (needs ${allowed.join(' or ')}).`, {
        details: { state: this.#state, method },
      });
    }
  }

  #setState(to: SessionState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#emit('state', { from, to });
  }

  #warn(message: string): void {
    this.#log('warn', message);
    this.#emit('warning', { message });
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void {
    try {
      this.#options.logger?.(level, message, data);
    } catch {
      // A broken logger must not break the backup.
    }
  }

  #emit<E extends keyof BackupSessionEvents>(event: E, payload: Parameters<BackupSessionEvents[E]>[0]): void {
    (this.emit as (e: E, p: unknown) => boolean)(event, payload);
  }
}

/** Any failure as a BackupError; what is not one already is a SERVER_ERROR. */
function toBackupError(error: unknown): BackupError {
  if (isBackupError(error)) return error;
  if (error instanceof Error && error.name === 'AbortError') return abortReasonError(error);
  return new BackupError('SERVER_ERROR', (error as Error)?.message ?? String(error), { cause: error });
}

function abortReasonError(error: Error): BackupError {
  const converted = abortReason({ reason: error } as AbortSignal);
  return isBackupError(converted) ? converted : new BackupError('ABORTED', converted.message, { cause: error });
}

/** The same error with more details (BackupError is immutable). */
function withDetails(error: BackupError, details: Record<string, unknown>): BackupError {
  return new BackupError(error.code, error.message, { cause: error.cause, details: { ...error.details, ...details } });
}
