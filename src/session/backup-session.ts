import { EventEmitter } from 'eventemitter3';
import type pg from 'pg';
import { BackupError } from '../errors.js';
import { connect } from '../postgres/connect.js';
import {
  closeClient,
  refusalError,
  stopBackupCall,
  type StopOutput,
} from '../postgres/held-backup.js';
import type { ServerInfo } from '../postgres/server-info.js';
import type { CallOptions } from '../sinks/contract.js';
import { Spool } from '../spool/spool.js';
import type { BackupSummary } from '../summary/summary.js';
import { throwIfAborted } from '../util/abort.js';
import { collectSummary } from './collect-summary.js';
import { beginBackup } from './begin-backup.js';
import { keepRawStopOutput, toBackupError } from './failures.js';
import { saveSummary } from './save-summary.js';
import { guardListeners } from './guarded-emitter.js';
import { Keepalive } from './keepalive.js';
import type { BackupSessionEvents, SessionState, StartResult, StopResult } from './events.js';
import { resolveOptions, type BackupSessionOptions, type ResolvedOptions } from './options.js';

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
  #keepalive: Keepalive | undefined;
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
      const begun = await beginBackup(client, {
        id: this.id,
        fast: this.#options.fast,
        includeWal: this.#options.includeWal,
        requireArchiving: this.#options.requireArchiving,
        signal,
        log: (level, message, data) => this.#log(level, message, data),
        onCheckpointWait: (elapsedMs) => this.#emit('waiting-for-checkpoint', { elapsedMs, fast: this.#options.fast }),
        serverCall: (call) => this.#serverCall(call, 'start'),
        onServer: (server) => (this.#server = server),
      });
      this.#slotName = begun.walSlot;
      this.#start = begun.start;
      if (this.#state !== 'starting') throw this.#notRunningError();
      this.#setState('running');
      this.#keepalive = new Keepalive(client, this.#options.heartbeatInterval, this.#options.maxHold, {
        onBeat: (latencyMs) => {
          this.#log('debug', `heartbeat answered in ${latencyMs} ms`);
          this.#emit('heartbeat', { at: new Date().toISOString(), latencyMs });
        },
        onLost: (reason, cause) => this.#lose(reason, cause),
      });
      this.#keepalive.arm();
      this.#log('info', `backup ${this.id} started at ${this.#start.startLsn}`, { ...this.#start });
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
    this.#keepalive?.disarm();
    const { signal } = options;
    const client = this.#client!;
    const server = this.#server!;
    let summary: BackupSummary;
    let stopped: StopOutput | undefined;
    try {
      await this.#keepalive?.inFlight;
      if (this.#state !== 'stopping') throw this.#notRunningError();
      const row = await this.#serverCall(() => stopBackupCall(client, server.serverVersion), 'stop');
      stopped = row;
      this.#serverStopped = true;
      // The backup is complete on the server: losing the connection now must not invalidate it.
      this.#detachLossHandlers(client);
      const collected = await collectSummary(client, {
        id: this.id,
        server,
        startedAt: this.#start!.startedAt,
        stopLsn: row.lsn,
        labelFile: row.labelfile,
        tablespaceMap: row.spcmapfile ?? '',
        walSlot: this.#slotName,
      });
      summary = collected.summary;
      if (collected.problem) {
        this.#attachmentFailure = collected.problem;
        this.#warn(collected.problem.message);
      } else if (this.#slotName !== undefined) this.#log('info', `included the WAL in the summary of backup ${this.id}`);
    } catch (error) {
      let failure = this.#state === 'stopping' ? toBackupError(error) : this.#notRunningError(error);
      // The server has ended the backup but no summary could be made: keep what it returned.
      if (stopped !== undefined) failure = await keepRawStopOutput(this.#spoolStore, this.id, stopped, failure, (message) => this.#warn(message));
      await this.#closeConnection();
      this.#fail(failure);
      throw failure;
    }
    try {
      const receipts = await saveSummary(summary, {
        spool: this.#spoolStore,
        sinks: this.#options.sinks,
        sinkRetries: this.#options.sinkRetries,
        signal,
        emit: (event, payload) => this.#emit(event, payload),
        warn: (message) => this.#warn(message),
        onSpoolPath: (path) => (this.#spoolPath = path),
        archive: this.#options.waitForArchive ? { client, server, timeoutMs: this.#options.archiveTimeout } : undefined,
        problem: this.#attachmentFailure,
      });
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

  /**
   * Ends the backup without a summary by closing its server session; the server then aborts the
   * backup itself. Idempotent and safe in every state; a no-op once the server has stopped the
   * backup (its summary is then being saved, and abort cannot take it back).
   */
  async abort(reason = 'aborted by request'): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'aborted' || this.#serverStopped) return;
    const wasFailed = this.#state === 'failed';
    this.#keepalive?.disarm();
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

  /** The held server session is gone or must be given up: the backup is invalid. */
  #lose(reason: string, cause?: unknown): void {
    if (this.#state !== 'running' && this.#state !== 'starting' && this.#state !== 'stopping') return;
    const error = new BackupError('BACKUP_ABORTED', `Backup ${this.id} is invalid: ${reason}. The server has aborted it; take a new backup.`, {
      cause,
      details: { id: this.id, reason },
    });
    this.#keepalive?.disarm();
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

