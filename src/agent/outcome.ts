// How a held backup ended, decided here only: what the holder writes in the record and exits
// with, and what a client (post, abort, status) is told about a record, as a BackupError whose
// code the CLI maps to its exit code (src/cli/exit-codes.ts: BACKUP_ABORTED 3, SINK_FAILED 4,
// ARCHIVE_TIMEOUT and HOLDER_FAILED 1). Pure functions over data: no I/O.
import { BackupError, type BackupErrorJson } from '../errors.js';
import type { HolderResponse } from './protocol.js';
import type { BackupRecord } from './state/record.js';
import { holderDiedWithSpooledSummary } from '../sinks/failure.js';

/** How the holder ends: what its record says from now on, and its process's exit code. */
export interface Ending {
  /** Merged into the running record (with `endedAt`). */
  readonly update: Partial<BackupRecord> & Pick<BackupRecord, 'state'>;
  /** 0: stopped or aborted as asked; 1: stopped with an error, or crashed; 3: lost. */
  readonly exitCode: 0 | 1 | 3;
}

/** The stop went through: every sink holds the summary. */
export function stoppedEnding(stop: { readonly stopLsn: string; readonly stopWalFile: string; readonly summaryLocations: readonly string[] }): Ending {
  return { update: { state: 'stopped', ...stop }, exitCode: 0 };
}

/** What the holder knows when a stop fails. */
export interface FailedStop {
  /** The backup ID. */
  readonly id: string;
  /** The server ended the backup: the summary exists (in the spool or the sinks). */
  readonly serverStopped: boolean;
  /** The session was aborted (rather than lost) before the server stopped the backup. */
  readonly sessionAborted: boolean;
  /** Where the summary was written before the failure. */
  readonly savedTo: readonly string[];
  /** Whether the stop was to wait for the last WAL file to be archived. */
  readonly waitForArchive: boolean;
}

/**
 * A stop that failed. Once the server has stopped the backup it is `stopped` with the error (the
 * summary is safe: not a tombstone); before, the backup is `aborted` or `lost`.
 */
export function failedStopEnding(failure: BackupError, stop: FailedStop): Ending {
  if (stop.serverStopped) {
    return { update: { state: 'stopped', summaryLocations: [...stop.savedTo], error: failure.toJSON(), ...archiveErrorOf(failure, stop) }, exitCode: 1 };
  }
  const reason = typeof failure.details.reason === 'string' ? failure.details.reason : failure.message;
  return { update: { state: stop.sessionAborted ? 'aborted' : 'lost', reason, error: failure.toJSON() }, exitCode: 3 };
}

/** For a stop whose sinks failed: what a later delivery must still report about the WAL archive. */
function archiveErrorOf(failure: BackupError, stop: FailedStop): Partial<BackupRecord> {
  if (failure.code !== 'SINK_FAILED' || !stop.waitForArchive || failure.details.walArchived === true) return {};
  const archiveError = failure.details.archiveError as BackupErrorJson | undefined;
  return {
    archiveError: archiveError ?? {
      code: 'SERVER_ERROR',
      message: `Backup ${stop.id} was stopped, but its last WAL file was not seen archived. Run pg-split-backup verify --id ${stop.id} before relying on it.`,
      details: { id: stop.id },
    },
  };
}

/** Aborted as asked (an `abort`, a signal, the max hold). */
export function abortedEnding(reason: string): Ending {
  return { update: { state: 'aborted', reason }, exitCode: 0 };
}

/** The server session was lost while held. */
export function lostEnding(reason: string, error: BackupError): Ending {
  return { update: { state: 'lost', reason, error: error.toJSON() }, exitCode: 3 };
}

/** The holder crashed (an uncaught error) while holding; it gave the backup up. */
export function crashedEnding(error: BackupError): Ending {
  return { update: { state: 'lost', reason: `the holder process crashed: ${error.message}`, error: error.toJSON() }, exitCode: 1 };
}

/** What is found of a holder that died without ending its backup. */
export interface DeadHolderFindings {
  /** The spool holds the summary (at `spoolPath`). */
  readonly inSpool: boolean;
  /** Where the spool keeps it. */
  readonly spoolPath: string;
  /** Every sink of the record holds the summary. */
  readonly inEverySink: boolean;
}

/**
 * The record of a holder that died without ending its backup (the server aborts a backup whose
 * session closes). One that died while stopping may have left the summary in the spool or in every
 * sink: then the backup is `stopped`, but nobody saw its last WAL file archived.
 */
export function deadHolderRecord(record: BackupRecord, found: DeadHolderFindings, endedAt: string): BackupRecord {
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
  if (record.state === 'stopping' && found.inSpool) {
    return {
      ...record,
      state: 'stopped',
      endedAt,
      ...unconfirmed,
      error: holderDiedWithSpooledSummary(record.id, record.pid, found.spoolPath).toJSON(),
    };
  }
  if (record.state === 'stopping' && found.inEverySink) return { ...record, state: 'stopped', endedAt, summaryLocations: record.sinks, ...unconfirmed };
  return {
    ...record,
    state: 'lost',
    endedAt,
    reason: `the holder process (pid ${record.pid}) ended without ${record.state === 'stopping' ? 'finishing the stop' : 'stopping the backup'} (killed?); the server aborted the backup when its session closed`,
  };
}

/** The holder's answer to a request that arrives after the backup ended: what the record says. */
export function endedResponse(record: BackupRecord): HolderResponse {
  if (record.state === 'stopped' && record.error === undefined) return { kind: 'ended', record };
  if (record.error !== undefined) return { kind: 'failed', error: record.error };
  const error = new BackupError('BACKUP_ABORTED', `Backup ${record.id} is not running: ${record.reason ?? record.state}.`, { details: { id: record.id, reason: record.reason } });
  return { kind: 'failed', error: error.toJSON() };
}

/** A client finds the tombstone of an aborted or lost backup: `BACKUP_ABORTED` (exit 3) with the reason. */
export function notRunningError(record: BackupRecord): BackupError {
  const reason = record.reason ?? record.error?.message ?? record.state;
  return new BackupError('BACKUP_ABORTED', `Backup ${record.id} is not valid: it was ${record.state} at ${record.endedAt ?? '?'}: ${reason}`, {
    details: { id: record.id, state: record.state, reason, endedAt: record.endedAt },
  });
}

/**
 * What `abort` or `status` is told about a backup that is no longer held: `NOT_FOUND` (exit 3) for
 * one stopped with its summary, else {@link notRunningError}.
 */
export function notHeldError(record: BackupRecord, request: 'abort' | 'status'): BackupError {
  if (record.state !== 'stopped') return notRunningError(record);
  const message =
    request === 'abort'
      ? `Backup ${record.id} is not running: it was stopped at ${record.endedAt ?? '?'} with its summary; there is nothing to abort.`
      : `Backup ${record.id} is not running: it was stopped at ${record.endedAt ?? '?'}.`;
  return new BackupError('NOT_FOUND', message, { details: { id: record.id, state: record.state } });
}

/**
 * What still stands against a stopped backup once its summary is in every sink: `error`, any
 * failure of the stop other than `SINK_FAILED` (a delivery fixes that one), reported before the
 * summary is read back; then `archiveError`, the last WAL file not seen archived.
 */
export function stoppedRecordFailures(record: BackupRecord): { readonly error?: BackupErrorJson; readonly archiveError?: BackupErrorJson } {
  return {
    ...(record.error !== undefined && record.error.code !== 'SINK_FAILED' ? { error: record.error } : {}),
    ...(record.archiveError !== undefined ? { archiveError: record.archiveError } : {}),
  };
}
