import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { BackupError, isBackupError } from '../errors.js';
import type { SinkReceipt } from '../sinks/contract.js';
import { deliverSpooled } from '../sinks/deliver-spooled.js';
import { FilesystemSummaryStore } from '../stores/filesystem.js';
import { openStore } from '../stores/store-url.js';
import { assertBackupId } from '../summary/backup-id.js';
import type { BackupSummary } from '../summary/summary.js';
import type { HolderStatus } from './holder/holder.js';
import { liveLockHolder, readLock } from './state/lock.js';
import { isRunning } from './state/process.js';
import { isHangUp, NoHolderError, responseError, sendRequest, type HolderRequest, type HolderResponse, type ProgressUpdate } from './client.js';
import { holderRunning, isActiveState, listRecords, readRecord, removeQuietly, writeRecord, type BackupRecord } from './state/record.js';
import { agentPaths, checkRuntimeDir, type AgentPaths } from './state/runtime-dir.js';

/** Where to find the holders. */
export interface ControlOptions {
  /** Absolute runtime directory (see `resolveRuntimeDir`). */
  readonly runtimeDir: string;
}

/** What `post` reports: the backup is stopped and every sink holds its summary. */
export interface StopOutcome {
  readonly id: string;
  /** The summary, as returned by the stop (or read back from the first sink by a repeated post). */
  readonly summary: BackupSummary;
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

function notRunning(record: BackupRecord): BackupError {
  const reason = record.reason ?? record.error?.message ?? record.state;
  return new BackupError('BACKUP_ABORTED', `Backup ${record.id} is not valid: it was ${record.state} at ${record.endedAt ?? '?'}: ${reason}`, {
    details: { id: record.id, state: record.state, reason, endedAt: record.endedAt },
  });
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
  let settled: BackupRecord;
  const endedAt = new Date().toISOString();
  // Died mid-stop: the summary may be safe, but nobody saw its last WAL file archived.
  const unconfirmed: Partial<BackupRecord> =
    record.waitForArchive === false
      ? {}
      : {
          archiveError: {
            code: 'HOLDER_FAILED',
            message: `The holder of backup ${record.id} (pid ${record.pid}) died during the stop, before it saw the backup's last WAL file archived. Run pg-split-backup verify --id ${record.id} against the WAL archive before relying on this backup.`,
            details: { id: record.id, summarySaved: true },
          },
        };
  if (record.state === 'stopping' && (await new FilesystemSummaryStore({ directory: record.spoolDirectory }).has(record.id).catch(() => false))) {
    const spoolPath = join(record.spoolDirectory, record.id);
    settled = {
      ...record,
      state: 'stopped',
      endedAt,
      ...unconfirmed,
      error: {
        code: 'SINK_FAILED',
        message: `The holder (pid ${record.pid}) died while stopping backup ${record.id}; its summary is complete in the spool at ${spoolPath}. Deliver it to the sinks before relying on this backup.`,
        details: { id: record.id, spoolPath },
      },
    };
  } else if (record.state === 'stopping' && (await missingSinks(record)).length === 0) {
    settled = { ...record, state: 'stopped', endedAt, summaryLocations: record.sinks, ...unconfirmed };
  } else {
    settled = {
      ...record,
      state: 'lost',
      endedAt,
      reason: `the holder process (pid ${record.pid}) ended without ${record.state === 'stopping' ? 'finishing the stop' : 'stopping the backup'} (killed?); the server aborted the backup when its session closed`,
    };
  }
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
      missing.push({ url, why: (error as Error).message });
    }
  }
  return missing;
}

/**
 * The record of an ID once no holder answers: waits briefly for a holder that is ending (its record
 * says `running` until it has written how it ended), then settles a dead holder's record.
 */
async function settledRecord(paths: AgentPaths, id: string, retry: () => Promise<HolderResponse | undefined>): Promise<BackupRecord | HolderResponse | undefined> {
  const deadline = Date.now() + SETTLE_WAIT_MS;
  for (;;) {
    const record = await readRecord(paths.record);
    if (record === undefined) {
      if ((await liveLockHolder(paths)) !== undefined && Date.now() < deadline) {
        await delay(200); // a holder is starting or ending
        continue;
      }
      return undefined;
    }
    if (!isActiveState(record.state)) return record;
    if (!holderRunning(record)) return settleDeadHolder(paths, record);
    if (Date.now() >= deadline) {
      throw new BackupError('HOLDER_FAILED', `The holder of backup ${id} (pid ${record.pid}) is alive but does not answer on ${paths.socket}; see ${paths.log}.`, {
        details: { id, pid: record.pid, log: paths.log },
      });
    }
    await delay(200);
    const response = await retry();
    if (response !== undefined) return response;
  }
}

/** Sends a request; undefined when no holder listens (or it hung up without answering). */
async function ask(paths: AgentPaths, request: HolderRequest, timeoutMs?: number, onProgress?: (progress: ProgressUpdate) => void): Promise<HolderResponse | undefined> {
  try {
    return await sendRequest(paths.socket, request, { ...(timeoutMs === undefined ? {} : { timeoutMs }), ...(onProgress ? { onProgress } : {}) });
  } catch (error) {
    if (error instanceof NoHolderError) return undefined;
    if (isHangUp(error) && timeoutMs === undefined) return undefined;
    throw error;
  }
}

async function runtimeDirOrNotFound(runtimeDir: string, id: string): Promise<AgentPaths> {
  assertBackupId(id);
  const paths = agentPaths(runtimeDir, id);
  if (!(await checkRuntimeDir(runtimeDir))) throw notFound(id);
  return paths;
}

async function outcomeFromStoppedRecord(paths: AgentPaths, record: BackupRecord): Promise<StopOutcome> {
  const missing = await missingSinks(record);
  let delivered = false;
  if (missing.length > 0) {
    const spool = new FilesystemSummaryStore({ directory: record.spoolDirectory });
    const spoolPath = join(record.spoolDirectory, record.id);
    if (!(await spool.has(record.id).catch(() => false))) {
      throw new BackupError(
        'SINK_FAILED',
        `Backup ${record.id} was stopped, but its summary is not in ${missing.map((m) => m.url).join(', ')}, and the spool does not hold it either; see ${paths.log}.`,
        { details: { id: record.id, failedSinks: missing.map((m) => m.url) } },
      );
    }
    // A retried post is the way to finish a delivery: the sinks may be back.
    const sinks = await Promise.all(missing.map((m) => openStore(m.url)));
    await deliverSpooled(record.id, { sinks, spoolDirectory: record.spoolDirectory, retries: DELIVERY_RETRIES }).catch((error: unknown) => {
      throw new BackupError(
        'SINK_FAILED',
        `Backup ${record.id} was stopped, but its summary is still not in ${missing.map((m) => m.url).join(', ')}: ${(error as Error).message} It is kept in the local spool at ${spoolPath}; run post again once the sink is back.`,
        { cause: error, details: { id: record.id, spoolPath, failedSinks: missing.map((m) => m.url) } },
      );
    });
    delivered = true;
    // The record no longer says SINK_FAILED; any other error it holds still stands.
    const { error, ...rest } = record;
    const settled = error?.code === 'SINK_FAILED' ? rest : record;
    await writeRecord(paths.record, { ...settled, summaryLocations: record.sinks }).catch(() => undefined);
  }
  // Delivery fixes a SINK_FAILED; any other failure (archive timeout, WAL unreadable) still stands.
  if (record.error !== undefined && record.error.code !== 'SINK_FAILED') throw responseError(record.error);
  const first = record.sinks[0];
  if (first === undefined) throw notFound(record.id);
  const summary = await (await openStore(first)).get(record.id);
  if (record.archiveError !== undefined) throw responseError(record.archiveError);
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
export async function stopBackup(id: string, options: ControlOptions & { readonly onProgress?: (progress: ProgressUpdate) => void }): Promise<StopOutcome> {
  const paths = await runtimeDirOrNotFound(options.runtimeDir, id);
  const request: HolderRequest = { v: 1, op: 'stop', ...(options.onProgress ? { progress: true } : {}) };
  const found = (await ask(paths, request, undefined, options.onProgress)) ?? (await settledRecord(paths, id, () => ask(paths, request, undefined, options.onProgress)));
  if (found === undefined) throw notFound(id);
  if ('ok' in found) {
    if (!found.ok) throw responseError(found.error);
    const record = found.record as BackupRecord | undefined;
    if (record !== undefined) return outcomeFromStoppedRecord(paths, record);
    const summary = found.summary as BackupSummary;
    const receipts = found.receipts as SinkReceipt[];
    return { id, summary, receipts, locations: receipts.map((r) => r.location), alreadyStopped: false };
  }
  if (found.state === 'stopped') return outcomeFromStoppedRecord(paths, found);
  throw notRunning(found);
}

/**
 * `abort`: ends a running backup without a summary.
 * @throws BackupError `NOT_FOUND` / `BACKUP_ABORTED` (exit 3) when it is not running,
 * `INVALID_STATE` while a stop is under way.
 */
export async function abortBackup(id: string, options: ControlOptions & { readonly reason?: string }): Promise<{ id: string; reason: string }> {
  const paths = await runtimeDirOrNotFound(options.runtimeDir, id);
  const reason = options.reason ?? 'aborted on request (pg-split-backup abort)';
  const request: HolderRequest = { v: 1, op: 'abort', reason };
  const found = (await ask(paths, request)) ?? (await settledRecord(paths, id, () => ask(paths, request)));
  if (found === undefined) throw notFound(id);
  if ('ok' in found) {
    if (!found.ok) throw responseError(found.error);
    return { id, reason: typeof found.reason === 'string' ? found.reason : reason };
  }
  if (found.state === 'stopped') {
    throw new BackupError('NOT_FOUND', `Backup ${id} is not running: it was stopped at ${found.endedAt ?? '?'} with its summary; there is nothing to abort.`, {
      details: { id, state: found.state },
    });
  }
  throw notRunning(found);
}

/** One running backup, as `status` lists it. */
export type RunningBackup = HolderStatus;

/**
 * `status`: the running backups in the runtime directory (holders that died are settled on the way).
 * With `id`, just that one, or it throws `NOT_FOUND` / `BACKUP_ABORTED` (exit 3) with the reason.
 */
export async function listRunning(options: ControlOptions & { readonly id?: string }): Promise<RunningBackup[]> {
  if (options.id !== undefined) {
    const paths = await runtimeDirOrNotFound(options.runtimeDir, options.id);
    const request: HolderRequest = { v: 1, op: 'status' };
    const found = (await ask(paths, request, STATUS_TIMEOUT_MS)) ?? (await settledRecord(paths, options.id, () => ask(paths, request, STATUS_TIMEOUT_MS)));
    if (found === undefined) throw notFound(options.id);
    if ('ok' in found) {
      if (!found.ok) throw responseError(found.error);
      if (found.backup !== undefined) return [found.backup as RunningBackup];
      const record = found.record as BackupRecord;
      throw new BackupError('NOT_FOUND', `Backup ${record.id} is not running: it was stopped at ${record.endedAt ?? '?'}.`, { details: { id: record.id, state: record.state } });
    }
    if (found.state === 'stopped') {
      throw new BackupError('NOT_FOUND', `Backup ${found.id} is not running: it was stopped at ${found.endedAt ?? '?'}.`, { details: { id: found.id, state: found.state } });
    }
    throw notRunning(found);
  }
  if (!(await checkRuntimeDir(options.runtimeDir))) return [];
  const running: RunningBackup[] = [];
  for (const record of await listRecords(options.runtimeDir)) {
    if (!isActiveState(record.state)) continue;
    const paths = agentPaths(options.runtimeDir, record.id);
    if (!holderRunning(record)) {
      await settleDeadHolder(paths, record);
      continue;
    }
    const response = await ask(paths, { v: 1, op: 'status' }, STATUS_TIMEOUT_MS).catch(() => undefined);
    if (response?.ok === true && response.backup !== undefined) {
      running.push(response.backup as RunningBackup);
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
        runtimeDir: options.runtimeDir,
        log: paths.log,
        sinks: record.sinks,
      });
    }
  }
  return running;
}
