import { BackupError, isBackupError } from '../errors.js';
import type { SinkReceipt } from '../sinks/contract.js';
import { stoppedSummaryMissing, stoppedSummaryUndelivered } from '../sinks/failure.js';
import { deliverSpooled } from '../spool/deliver.js';
import { Spool } from '../spool/spool.js';
import { encryptionFrom } from '../crypto/keyring.js';
import { openStore } from '../stores/store-url.js';
import { assertBackupId } from '../summary/backup-id.js';
import { summaryOverview, type SummaryOverview } from '../summary/summary.js';
import { sleep } from '../util/abort.js';
import { isHangUp, NoHolderError, responseError, sendRequest } from './client.js';
import { deadHolderRecord, notHeldError, notRunningError, stoppedRecordFailures } from './outcome.js';
import type { HolderRequest, HolderResponse, HolderStatus, ProgressUpdate } from './protocol.js';
import { liveLockHolder, readLock } from './state/lock.js';
import { isRunning } from './state/process.js';
import { holderRunning, isActiveState, listRecords, readRecord, removeQuietly, writeRecord, type BackupRecord } from './state/record.js';
import { agentPaths, checkRuntimeDir, resolveRuntimeDir, type AgentPaths } from './state/runtime-dir.js';

/** Where to find the holders, and when to stop waiting for one. */
export interface ControlOptions {
  /**
   * The runtime directory of the holders' sockets, locks, logs and records.
   * @default `PG_SPLIT_BACKUP_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/pg-split-backup`, else `/tmp/pg-split-backup-<uid>`
   */
  readonly runtimeDir?: string;
  /**
   * Ends this call's wait and rejects with the signal's reason. Only the client stops waiting:
   * the holder goes on with what it was asked (a stop still saves the summary).
   */
  readonly signal?: AbortSignal;
}

/** Options of {@link stopBackup}. */
export interface StopBackupOptions extends ControlOptions {
  /** Receives what the stop is waiting for (the archive, a sink retry), about once a second. */
  readonly onProgress?: (progress: ProgressUpdate) => void;
}

/** Options of {@link abortBackup}. */
export interface AbortBackupOptions extends ControlOptions {
  /**
   * Why, for the record and the holder's log (at most 500 characters).
   * @default 'aborted on request (pg-split-backup abort)'
   */
  readonly reason?: string;
}

/** Options of {@link listRunning}. */
export interface ListRunningOptions extends ControlOptions {
  /** Only this backup: it must be running. */
  readonly id?: string;
}

/** What {@link abortBackup} reports. */
export interface AbortOutcome {
  /** The backup ID. */
  readonly id: string;
  /** The reason recorded. */
  readonly reason: string;
}

/** What `post` reports: the backup is stopped and every sink holds its summary. */
export interface StopOutcome {
  /** The backup ID. */
  readonly id: string;
  /** The summary (attachments by name and size), as returned by the stop or read back from the first sink by a repeated post. */
  readonly summary: SummaryOverview;
  /** Where the summary is. */
  readonly locations: readonly string[];
  /** One receipt per sink, for a fresh stop. */
  readonly receipts?: readonly SinkReceipt[];
  /** True when the backup had been stopped by an earlier post (hooks get retried). */
  readonly alreadyStopped: boolean;
  /** True when this post delivered a summary an earlier stop had left in the spool. */
  readonly deliveredFromSpool?: boolean;
}

const STATUS_TIMEOUT_MS = 5000;
const SETTLE_WAIT_MS = 5000;
/** A retried post should answer within seconds: 250 ms + 500 ms + 1 s of backoff. */
const DELIVERY_RETRIES = 3;

function notFound(id: string): BackupError {
  return new BackupError('NOT_FOUND', `No backup with ID ${id}: it was never started here (check --id and --runtime-dir), or its record is gone (a reboot empties a tmpfs runtime directory).`, {
    details: { id },
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function unexpected(id: string, response: HolderResponse): BackupError {
  return new BackupError('HOLDER_FAILED', `The holder of backup ${id} gave an answer that does not fit the request (${response.kind}).`, { details: { id, answer: response.kind } });
}

/**
 * Turns the record of a holder that died without ending its backup into a tombstone (the server
 * aborts a backup whose session closes), and removes its stale socket and lock. A holder that
 * died while stopping may have left the summary in the spool or in every sink: that is kept.
 */
export async function settleDeadHolder(paths: AgentPaths, record: BackupRecord): Promise<BackupRecord> {
  if ((await liveLockHolder(paths)) !== undefined) return record; // a new holder owns the ID now
  const lock = await readLock(paths.lock).catch(() => undefined);
  if (lock === undefined || !isRunning(lock)) await removeQuietly(paths.socket, paths.lock);
  const spool = new Spool({ directory: record.spoolDirectory });
  const inSpool = record.state === 'stopping' && (await spool.has(record.id).catch(() => false));
  const inEverySink = record.state === 'stopping' && !inSpool && (await missingSinks(record)).length === 0;
  const settled = deadHolderRecord(record, { inSpool, spoolPath: spool.pathOf(record.id), inEverySink }, new Date().toISOString());
  await writeRecord(paths.record, settled);
  return settled;
}

/** The sinks of a record that do not hold its summary (or cannot say, with why). */
async function missingSinks(record: BackupRecord): Promise<{ url: string; why?: string }[]> {
  const missing: { url: string; why?: string }[] = [];
  for (const url of record.sinks) {
    try {
      if (!(await (await openStore(url)).has(record.id))) missing.push({ url });
    } catch (error) {
      missing.push({ url, why: messageOf(error) });
    }
  }
  return missing;
}

/**
 * The record of an ID once no holder answers: waits briefly for a holder that is ending (its record
 * says `running` until it has written how it ended), then settles a dead holder's record.
 */
/** A holder's answer, or the record found once no holder answers. */
type Found = HolderResponse | { readonly kind: 'record'; readonly record: BackupRecord };

async function settledRecord(paths: AgentPaths, id: string, retry: () => Promise<HolderResponse | undefined>, signal?: AbortSignal): Promise<Found | undefined> {
  const deadline = Date.now() + SETTLE_WAIT_MS;
  for (;;) {
    const record = await readRecord(paths.record);
    if (record === undefined) {
      if ((await liveLockHolder(paths)) !== undefined && Date.now() < deadline) {
        await sleep(200, signal); // a holder is starting or ending
        continue;
      }
      return undefined;
    }
    if (!isActiveState(record.state)) return { kind: 'record', record };
    if (!holderRunning(record)) return { kind: 'record', record: await settleDeadHolder(paths, record) };
    if (Date.now() >= deadline) {
      throw new BackupError('HOLDER_FAILED', `The holder of backup ${id} (pid ${record.pid}) is alive but does not answer on ${paths.socket}; see ${paths.log}.`, {
        details: { id, pid: record.pid, log: paths.log },
      });
    }
    await sleep(200, signal);
    const response = await retry();
    if (response !== undefined) return response;
  }
}

/** Sends a request; undefined when no holder listens (or it hung up without answering). */
async function ask(
  paths: AgentPaths,
  request: HolderRequest,
  options: { readonly timeoutMs?: number; readonly onProgress?: (progress: ProgressUpdate) => void; readonly signal?: AbortSignal | undefined } = {},
): Promise<HolderResponse | undefined> {
  const { timeoutMs, onProgress, signal } = options;
  try {
    return await sendRequest(paths.socket, request, { ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) });
  } catch (error) {
    if (error instanceof NoHolderError) return undefined;
    if (isHangUp(error) && timeoutMs === undefined) return undefined;
    throw error;
  }
}

async function runtimeDirOrNotFound(runtimeDirOption: string | undefined, id: string): Promise<AgentPaths> {
  assertBackupId(id);
  const runtimeDir = resolveRuntimeDir(runtimeDirOption);
  const paths = agentPaths(runtimeDir, id);
  if (!(await checkRuntimeDir(runtimeDir))) throw notFound(id);
  return paths;
}

async function outcomeFromStoppedRecord(paths: AgentPaths, record: BackupRecord): Promise<StopOutcome> {
  const missing = await missingSinks(record);
  let delivered = false;
  if (missing.length > 0) {
    const spool = new Spool({ directory: record.spoolDirectory });
    const spoolPath = spool.pathOf(record.id);
    const failedSinks = missing.map((m) => m.url);
    if (!(await spool.has(record.id).catch(() => false))) throw stoppedSummaryMissing(record.id, failedSinks, paths.log);
    // A retried post is the way to finish a delivery: the sinks may be back.
    // Sealed as the holder would have: the record names the key files (the environment, its keys).
    const encryption = await encryptionFrom(record);
    const sinks = await Promise.all(missing.map((m) => openStore(m.url, encryption !== undefined ? { encryption } : {})));
    await deliverSpooled(record.id, { sinks, spoolDirectory: record.spoolDirectory, retries: DELIVERY_RETRIES }).catch((error: unknown) => {
      throw stoppedSummaryUndelivered(record.id, failedSinks, spoolPath, error);
    });
    delivered = true;
    // The record no longer says SINK_FAILED; any other error it holds still stands.
    const { error, ...rest } = record;
    const settled = error?.code === 'SINK_FAILED' ? rest : record;
    await writeRecord(paths.record, { ...settled, summaryLocations: record.sinks }).catch(() => undefined);
  }
  // Delivery fixes a SINK_FAILED; any other failure (archive timeout, WAL unreadable) still stands.
  const failures = stoppedRecordFailures(record);
  if (failures.error !== undefined) throw responseError(failures.error);
  const first = record.sinks[0];
  if (first === undefined) throw notFound(record.id);
  const encryption = await encryptionFrom(record);
  const summary = summaryOverview(await (await openStore(first, encryption !== undefined ? { encryption } : {})).get(record.id));
  if (failures.archiveError !== undefined) throw responseError(failures.archiveError);
  const locations = record.summaryLocations !== undefined && record.summaryLocations.length === record.sinks.length ? record.summaryLocations : record.sinks;
  return { id: record.id, summary, locations, alreadyStopped: true, ...(delivered ? { deliveredFromSpool: true } : {}) };
}

/**
 * `post`: asks the holder to stop the backup (spool, every sink, archive wait) and waits for the
 * outcome, which may take minutes. When the holder is gone, the record tells: a tombstone is
 * `BACKUP_ABORTED` with its reason, a stopped backup is reported again (hooks get retried).
 * @throws BackupError `NOT_FOUND`, `BACKUP_ABORTED` (exit 3), `SINK_FAILED` (exit 4, `details.spoolPath`),
 * `ARCHIVE_TIMEOUT`, `HOLDER_FAILED`.
 */
export async function stopBackup(id: string, options: StopBackupOptions = {}): Promise<StopOutcome> {
  const paths = await runtimeDirOrNotFound(options.runtimeDir, id);
  const { onProgress, signal } = options;
  const request: HolderRequest = { op: 'stop', ...(onProgress ? { progress: true } : {}) };
  const send = (): Promise<HolderResponse | undefined> => ask(paths, request, { ...(onProgress ? { onProgress } : {}), signal });
  const found = (await send()) ?? (await settledRecord(paths, id, send, signal));
  if (found === undefined) throw notFound(id);
  switch (found.kind) {
    case 'failed':
      throw responseError(found.error);
    case 'record':
    case 'ended':
      if (found.record.state === 'stopped') return outcomeFromStoppedRecord(paths, found.record);
      throw notRunningError(found.record);
    case 'stopped':
      return { id, summary: found.summary, receipts: found.receipts, locations: found.receipts.map((r) => r.location), alreadyStopped: false };
    default:
      throw unexpected(id, found);
  }
}

/**
 * `abort`: ends a running backup without a summary.
 * @throws BackupError `NOT_FOUND` / `BACKUP_ABORTED` (exit 3) when it is not running,
 * `INVALID_STATE` while a stop is under way.
 */
export async function abortBackup(id: string, options: AbortBackupOptions = {}): Promise<AbortOutcome> {
  const paths = await runtimeDirOrNotFound(options.runtimeDir, id);
  const { signal } = options;
  const reason = options.reason ?? 'aborted on request (pg-split-backup abort)';
  const request: HolderRequest = { op: 'abort', reason };
  const send = (): Promise<HolderResponse | undefined> => ask(paths, request, { signal });
  const found = (await send()) ?? (await settledRecord(paths, id, send, signal));
  if (found === undefined) throw notFound(id);
  if (found.kind === 'failed') throw responseError(found.error);
  if (found.kind === 'aborted') return { id, reason: found.reason };
  if (found.kind !== 'record' && found.kind !== 'ended') throw unexpected(id, found);
  throw notHeldError(found.record, 'abort');
}

/** One running backup, as `status` lists it. */
export type RunningBackup = HolderStatus;

/**
 * `status`: the running backups in the runtime directory (holders that died are settled on the way).
 * With `id`, just that one, or it throws `NOT_FOUND` / `BACKUP_ABORTED` (exit 3) with the reason.
 */
export async function listRunning(options: ListRunningOptions = {}): Promise<RunningBackup[]> {
  const { signal } = options;
  if (options.id !== undefined) {
    const id = options.id;
    const paths = await runtimeDirOrNotFound(options.runtimeDir, id);
    const send = (): Promise<HolderResponse | undefined> => ask(paths, { op: 'status' }, { timeoutMs: STATUS_TIMEOUT_MS, signal });
    const found = (await send()) ?? (await settledRecord(paths, id, send, signal));
    if (found === undefined) throw notFound(id);
    if (found.kind === 'failed') throw responseError(found.error);
    if (found.kind === 'status') return [found.backup];
    if (found.kind !== 'record' && found.kind !== 'ended') throw unexpected(id, found);
    throw notHeldError(found.record, 'status');
  }
  const runtimeDir = resolveRuntimeDir(options.runtimeDir);
  if (!(await checkRuntimeDir(runtimeDir))) return [];
  const running: RunningBackup[] = [];
  for (const record of await listRecords(runtimeDir)) {
    if (!isActiveState(record.state)) continue;
    const paths = agentPaths(runtimeDir, record.id);
    if (!holderRunning(record)) {
      await settleDeadHolder(paths, record);
      continue;
    }
    const response = await ask(paths, { op: 'status' }, { timeoutMs: STATUS_TIMEOUT_MS, signal }).catch((error: unknown) => {
      if (signal?.aborted) throw error;
      return undefined;
    });
    if (response?.kind === 'status') {
      running.push(response.backup);
    } else if (response === undefined) {
      // Alive but not answering (busy ending, or wedged): show what the record knows.
      running.push({
        id: record.id,
        pid: record.pid,
        state: record.state === 'stopping' ? 'stopping' : 'running',
        startLsn: record.startLsn,
        startWalFile: record.startWalFile,
        timeline: record.timeline,
        serverVersion: record.serverVersion,
        startedAt: record.startedAt,
        heldForMs: Date.now() - Date.parse(record.startedAt),
        maxHoldMs: record.maxHoldMs,
        runtimeDir,
        log: paths.log,
        sinks: record.sinks,
      });
    }
  }
  return running;
}

/**
 * One running backup: {@link listRunning} with `id`.
 * @throws BackupError `NOT_FOUND` / `BACKUP_ABORTED` (exit 3) when it is not running, with the reason.
 */
export async function backupStatus(id: string, options: ControlOptions = {}): Promise<RunningBackup> {
  const [backup] = await listRunning({ ...options, id });
  return backup!;
}
