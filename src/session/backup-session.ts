import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import type pg from 'pg';
import { BackupError, isBackupError } from '../errors.js';
import { readArchiveProgress } from '../postgres/archive-status.js';
import { connect } from '../postgres/connect.js';
import { dialectFor, sessionSettings } from '../postgres/dialect.js';
import { preflight, readServerInfo, type ServerInfo } from '../postgres/server-info.js';
import type { CallOptions, SinkReceipt, SummarySink } from '../sinks/contract.js';
import { writeWithRetry } from '../sinks/write-with-retry.js';
import { FilesystemSummaryStore } from '../stores/filesystem.js';
import { parseBackupLabel } from '../summary/backup-label.js';
import type { BackupSummary, SummaryAttachment } from '../summary/summary.js';
import { neededWalFiles } from '../restore/verify-wal.js';
import { compareLsn } from '../summary/lsn.js';
import { stopWalFileName, walFileName } from '../summary/wal-file.js';
import { abortReason, sleep, throwIfAborted } from '../util/abort.js';
import { mkdirPrivate, writeFileDurable } from '../util/durable-fs.js';
import { TOOL } from '../version.js';
import type { BackupSessionEvents, SessionState, StartResult, StopResult } from './events.js';
import { resolveOptions, type BackupSessionOptions, type ResolvedOptions } from './options.js';

/**
 * The archive wait polls quickly at first (the archiver usually needs milliseconds), at most every
 * 100 ms for the first 3 s (an archive_command that takes a second is noticed within 100 ms of
 * storing the segment; at 50 ms doubling to 1 s the gap was up to 800 ms: bench row 7), then
 * doubling to every second: 50 concurrent backups polling every 100 ms for 30 s made test/load's
 * concurrent run a third slower on 2 cores (95 s against 70 s; 77 s with 3 s).
 */
const ARCHIVE_POLL_FIRST_MS = 25;
const ARCHIVE_POLL_FAST_MAX_MS = 100;
const ARCHIVE_POLL_FAST_FOR_MS = 3_000;
const ARCHIVE_POLL_MAX_MS = 1000;

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
      const settings = sessionSettings(server.serverVersion);
      await client.query('SELECT set_config(name, value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value)', [
        Object.keys(settings),
        Object.values(settings),
      ]);
      throwIfAborted(signal);
      if (this.#options.includeWal) {
        // Reserved before start, so no WAL the backup needs can be removed; temporary, so it
        // disappears with this session whatever happens.
        this.#slotName = `pgsb_${randomBytes(8).toString('hex')}`;
        await client.query('SELECT pg_create_physical_replication_slot($1, true, true)', [this.#slotName]);
      }
      const dialect = dialectFor(server.serverVersion);
      const checkpointBegan = Date.now();
      const ticker = setInterval(() => this.#emit('waiting-for-checkpoint', { elapsedMs: Date.now() - checkpointBegan, fast: this.#options.fast }), CHECKPOINT_PROGRESS_MS);
      ticker.unref();
      this.#log('debug', `calling ${dialect.startSql} (fast: ${this.#options.fast})`);
      const started = await this.#serverCall(() => client.query<{ lsn: string }>(dialect.startSql, [this.id, this.#options.fast]), 'start').finally(() => clearInterval(ticker));
      const startLsn = started.rows[0]?.lsn;
      if (startLsn === undefined) throw new BackupError('SERVER_ERROR', 'The backup start function returned no LSN.');
      const timeline = await this.#checkpointTimeline(client);
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
    let stopped: { lsn: string; labelfile: string; spcmapfile: string | null } | undefined;
    try {
      await this.#heartbeatInFlight;
      if (this.#state !== 'stopping') throw this.#notRunningError();
      const dialect = dialectFor(server.serverVersion);
      // Never let the server wait for archiving: a cancel during that wait loses the label.
      const result = await this.#serverCall(
        () => client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(dialect.stopSql, [false]),
        'stop',
      );
      const row = result.rows[0];
      if (row === undefined) throw new BackupError('SERVER_ERROR', 'The backup stop function returned no row.');
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
  async #keepRawStopOutput(raw: { lsn: string; labelfile: string; spcmapfile: string | null }, failure: BackupError): Promise<BackupError> {
    const path = join(this.#options.spoolDirectory, `.raw-stop-${this.id}-${Date.now()}.json`);
    try {
      await mkdirPrivate(this.#options.spoolDirectory);
      await writeFileDurable(path, `${JSON.stringify({ id: this.id, stopLsn: raw.lsn, labelFile: raw.labelfile, tablespaceMap: raw.spcmapfile ?? '' }, null, 2)}\n`);
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

  async #checkpointTimeline(client: pg.Client): Promise<number> {
    // The backup's checkpoint (or restartpoint on a standby) is the latest one in pg_control.
    const { rows } = await client.query<{ timeline_id: number }>('SELECT timeline_id FROM pg_control_checkpoint()');
    const timeline = rows[0]?.timeline_id;
    if (timeline === undefined) throw new BackupError('SERVER_ERROR', 'pg_control_checkpoint() returned no timeline.');
    return timeline;
  }

  async #summarize(client: pg.Client, stopLsn: string, labelFile: string, tablespaceMap: string): Promise<BackupSummary> {
    const server = this.#server!;
    const label = parseBackupLabel(labelFile);
    if (label.label !== this.id) {
      throw new BackupError('SERVER_ERROR', `The server returned a backup_label for "${label.label}", not for ${this.id}.`);
    }
    const timeline = label.startTimeline ?? Number.parseInt(label.startWalFile.slice(0, 8), 16);
    let stopTimeline = timeline;
    let walEnd = stopLsn;
    const attachments: SummaryAttachment[] = [];
    // Anything read after the server stopped the backup may fail: the label must survive that.
    const attach = async (what: string, read: () => Promise<void>): Promise<void> => {
      try {
        await read();
      } catch (error) {
        this.#attachmentFailure ??= new BackupError(
          'SERVER_ERROR',
          `The summary of backup ${this.id} is saved, but ${what} could not be read into it: ${(error as Error).message}. Do not rely on this backup.`,
          { cause: error, details: { id: this.id } },
        );
        this.#warn(this.#attachmentFailure.message);
      }
    };
    if (server.inRecovery) {
      // The restored cluster takes its end point from pg_control's minRecoveryPoint: ship the
      // pg_control of this moment, and make sure the WAL range covers where it points.
      await attach("the standby's pg_control", async () => {
        const { rows } = await client.query<{ body: Buffer; tli: number; lsn: string }>(
          "SELECT pg_read_binary_file('global/pg_control') AS body, min_recovery_end_timeline AS tli, min_recovery_end_lsn::text AS lsn FROM pg_control_recovery()",
        );
        const row = rows[0]!;
        attachments.push({ name: 'global/pg_control', body: row.body });
        stopTimeline = row.tli || timeline;
        if (compareLsn(row.lsn, walEnd) > 0) walEnd = row.lsn;
      });
    }
    const summary: BackupSummary = {
      id: this.id,
      labelFile,
      tablespaceMap,
      startLsn: label.startLsn,
      stopLsn,
      startWalFile: label.startWalFile,
      stopWalFile: stopWalFileName(stopTimeline, walEnd, server.walSegmentSize),
      timeline,
      walSegmentSize: server.walSegmentSize,
      serverVersion: server.serverVersion,
      systemIdentifier: server.systemIdentifier,
      backupFrom: label.backupFrom,
      startedAt: this.#start!.startedAt,
      stoppedAt: new Date().toISOString(),
      tool: TOOL,
    };
    if (this.#options.includeWal) await attach('its WAL', async () => void attachments.push(...(await this.#readWal(client, summary))));
    return Object.freeze(attachments.length ? { ...summary, attachments: Object.freeze(attachments) } : summary);
  }

  /** The backup's WAL, read over SQL while the temporary slot still holds it. */
  async #readWal(client: pg.Client, summary: BackupSummary): Promise<SummaryAttachment[]> {
    const files: SummaryAttachment[] = [];
    for (const name of neededWalFiles(summary)) {
      const { rows } = await client.query<{ body: Buffer }>('SELECT pg_read_binary_file($1) AS body', [`pg_wal/${name}`]);
      files.push({ name: `pg_wal/${name}`, body: rows[0]!.body });
    }
    await client.query('SELECT pg_drop_replication_slot($1)', [this.#slotName]).catch(() => undefined);
    this.#log('info', `included ${files.length} WAL files in the summary of backup ${this.id}`);
    return files;
  }

  async #spool(summary: BackupSummary): Promise<void> {
    const spool = new FilesystemSummaryStore({ directory: this.#options.spoolDirectory });
    try {
      await spool.write(summary);
      this.#spoolPath = join(this.#options.spoolDirectory, summary.id);
      this.#emit('spooled', { path: this.#spoolPath });
    } catch (error) {
      // The summary is still in memory: the sinks may yet save it, so carry on, loudly.
      this.#warn(`Could not persist the summary to the spool ${this.#options.spoolDirectory}: ${(error as Error).message}`);
    }
  }

  async #writeSinks(summary: BackupSummary, signal: AbortSignal | undefined): Promise<SinkReceipt[]> {
    const results = await Promise.allSettled(this.#options.sinks.map((sink) => this.#writeSink(sink, summary, signal)));
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [{ sink: this.#options.sinks[i]!.name, error: r.reason as Error }] : []));
    if (failures.length > 0) {
      const failed = failures.map((f) => `${f.sink} (${f.error.message})`).join(', ');
      if (this.#spoolPath !== undefined) {
        throw new BackupError(
          'SINK_FAILED',
          `The summary of backup ${this.id} was not saved to ${failed}. It is kept in the local spool at ${this.#spoolPath}; deliver it (run post again, or pg-split-backup resend) before relying on this backup.`,
          { cause: failures[0]!.error, details: { id: this.id, spoolPath: this.#spoolPath, failedSinks: failures.map((f) => f.sink) } },
        );
      }
      // Last resort (disk full?): the error itself carries what the backup cannot restore without.
      throw new BackupError(
        'SINK_FAILED',
        `The summary of backup ${this.id} was not saved to ${failed}, and the spool could not hold it either. ` +
          `Save this backup_label${summary.tablespaceMap === '' ? '' : ' and tablespace_map'} by hand, or the backup cannot be restored:\n` +
          `--- backup_label\n${summary.labelFile}${summary.tablespaceMap === '' ? '' : `--- tablespace_map\n${summary.tablespaceMap}`}`,
        {
          cause: failures[0]!.error,
          details: { id: this.id, failedSinks: failures.map((f) => f.sink), labelFile: summary.labelFile, tablespaceMap: summary.tablespaceMap },
        },
      );
    }
    if (this.#spoolPath !== undefined) {
      await new FilesystemSummaryStore({ directory: this.#options.spoolDirectory }).delete(summary.id).catch((error: Error) => {
        this.#warn(`Could not remove the delivered summary from the spool: ${error.message}`);
      });
      this.#spoolPath = undefined;
    }
    return results.map((r) => (r as PromiseFulfilledResult<SinkReceipt>).value);
  }

  async #writeSink(sink: SummarySink, summary: BackupSummary, signal: AbortSignal | undefined): Promise<SinkReceipt> {
    const receipt = await writeWithRetry(sink, summary, {
      retries: this.#options.sinkRetries,
      ...(signal ? { signal } : {}),
      onFailedAttempt: ({ error, attempt, retriesLeft }) => this.#emit('sink-retry', { sink: sink.name, attempt, retriesLeft, error }),
    });
    this.#emit('sink-written', { sink: sink.name, receipt });
    return receipt;
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
    const exact = server.canStatFile;
    const began = Date.now();
    let pollMs = ARCHIVE_POLL_FIRST_MS;
    for (;;) {
      const progress = await readArchiveProgress(client, summary.stopWalFile, exact);
      if (progress.archived) return;
      const elapsedMs = Date.now() - began;
      this.#emit('waiting-for-archive', {
        walFile: summary.stopWalFile,
        elapsedMs,
        lastArchivedWal: progress.lastArchivedWal,
        lastFailedWal: progress.lastFailedWal,
      });
      if (elapsedMs >= this.#options.archiveTimeout) {
        throw new BackupError(
          'ARCHIVE_TIMEOUT',
          `The summary of backup ${this.id} is saved, but WAL file ${summary.stopWalFile} was not archived within ` +
            `${Math.round(this.#options.archiveTimeout / 1000)} s (last archived: ${progress.lastArchivedWal ?? 'none'}, ` +
            `last failed: ${progress.lastFailedWal ?? 'none'}). The backup cannot be restored until it is: check archive_command.`,
          { details: { id: this.id, walFile: summary.stopWalFile, ...progress } },
        );
      }
      await sleep(Math.min(pollMs, this.#options.archiveTimeout - elapsedMs + 1), signal);
      pollMs = Math.min(pollMs * 2, elapsedMs < ARCHIVE_POLL_FAST_FOR_MS ? ARCHIVE_POLL_FAST_MAX_MS : ARCHIVE_POLL_MAX_MS);
    }
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
      await client.query({ text: 'SELECT 1', query_timeout: this.#options.heartbeatInterval } as pg.QueryConfig);
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
      if (isBackupError(error)) throw error;
      const sqlState = (error as { code?: string }).code;
      if (sqlState === '42501') {
        throw new BackupError('PRIVILEGE', `The server refused to ${what} the backup: ${(error as Error).message}`, { cause: error });
      }
      if (sqlState === '55000' && /WAL level/i.test((error as Error).message)) {
        throw new BackupError('SERVER_SETTING', `The server refused to ${what} the backup: ${(error as Error).message}`, { cause: error });
      }
      if (this.#state !== 'starting' && this.#state !== 'stopping') throw this.#notRunningError(error);
      throw new BackupError('SERVER_ERROR', `The server failed to ${what} backup ${this.id}: ${(error as Error).message}`, {
        cause: error,
        details: { sqlState },
      });
    }
  }

  async #closeConnection(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#options.signal?.removeEventListener('abort', this.#onExternalAbort);
    if (client === undefined) return;
    this.#detachLossHandlers(client);
    await Promise.race([client.end().catch(() => undefined), sleep(2000)]);
    // A dead network path can keep end() pending: make sure the socket is gone.
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
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

  // A listener that throws must not break the session.
  #emit<E extends keyof BackupSessionEvents>(event: E, payload: Parameters<BackupSessionEvents[E]>[0]): void {
    try {
      (this.emit as (e: E, p: unknown) => boolean)(event, payload);
    } catch (error) {
      this.#log('error', `a listener of "${String(event)}" threw: ${(error as Error).message}`);
    }
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
