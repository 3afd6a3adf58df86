// The one home of SINK_FAILED: every way a summary can fail to reach its sinks, worded once.
import { BackupError } from '../errors.js';
import type { BackupSummary } from '../summary/summary.js';

/** One sink that refused a summary, and why. */
export interface SinkFailure {
  /** The sink's name (its URL). */
  readonly sink: string;
  /** The last error it gave. */
  readonly error: Error;
}

function listed(failures: readonly SinkFailure[]): string {
  return failures.map((f) => `${f.sink} (${f.error.message})`).join(', ');
}

/** One sink's own write failed (a store that retries itself, after its retries). */
export function sinkWriteFailed(id: string, location: string, cause: unknown, reason: string): BackupError {
  return new BackupError('SINK_FAILED', `Could not write the summary of backup ${id} to ${location}: ${reason}.`, { cause, details: { id, location } });
}

/**
 * A stop's summary did not reach every sink. With a spool path the summary is safe there; without
 * one (the spool failed too) the error itself carries what the backup cannot restore without.
 */
export function summaryNotSaved(summary: BackupSummary, failures: readonly SinkFailure[], spoolPath: string | undefined): BackupError {
  const id = summary.id;
  const failedSinks = failures.map((f) => f.sink);
  if (spoolPath !== undefined) {
    return new BackupError(
      'SINK_FAILED',
      `The summary of backup ${id} was not saved to ${listed(failures)}. It is kept in the local spool at ${spoolPath}; deliver it (run post again, or pg-split-backup resend) before relying on this backup.`,
      { cause: failures[0]?.error, details: { id, spoolPath, failedSinks } },
    );
  }
  const map = summary.tablespaceMap === '' ? '' : `--- tablespace_map\n${summary.tablespaceMap}`;
  return new BackupError(
    'SINK_FAILED',
    `The summary of backup ${id} was not saved to ${listed(failures)}, and the spool could not hold it either. ` +
      `Save this backup_label${map === '' ? '' : ' and tablespace_map'} by hand, or the backup cannot be restored:\n` +
      `--- backup_label\n${summary.labelFile}${map}`,
    { cause: failures[0]?.error, details: { id, failedSinks, labelFile: summary.labelFile, tablespaceMap: summary.tablespaceMap } },
  );
}

/** A delivery from the spool failed again; the spool keeps the summary. */
export function spooledNotDelivered(id: string, failures: readonly SinkFailure[], spoolPath: string): BackupError {
  return new BackupError('SINK_FAILED', `The summary of backup ${id} was still not saved to ${listed(failures)}. It stays in the local spool at ${spoolPath}.`, {
    cause: failures[0]?.error,
    details: { id, spoolPath, failedSinks: failures.map((f) => f.sink) },
  });
}

/** A resend of several spooled summaries left some undelivered. */
export function resendIncomplete(
  spoolDirectory: string,
  total: number,
  delivered: readonly { id: string; locations: string[] }[],
  failed: readonly { id: string; error: string }[],
): BackupError {
  return new BackupError(
    'SINK_FAILED',
    `${failed.length} of ${total} spooled summaries were not delivered; they stay in ${spoolDirectory}: ${failed.map((f) => `${f.id}: ${f.error}`).join('; ')}`,
    { details: { spoolDirectory, delivered, failed } },
  );
}

/** A stopped backup's summary is in neither its sinks nor the spool (`details.failedSinks`). */
export function stoppedSummaryMissing(id: string, missing: readonly string[], log: string): BackupError {
  return new BackupError('SINK_FAILED', `Backup ${id} was stopped, but its summary is not in ${missing.join(', ')}, and the spool does not hold it either; see ${log}.`, {
    details: { id, failedSinks: [...missing] },
  });
}

/** A retried post could not deliver the spooled summary of a stopped backup either. */
export function stoppedSummaryUndelivered(id: string, missing: readonly string[], spoolPath: string, cause: unknown): BackupError {
  return new BackupError(
    'SINK_FAILED',
    `Backup ${id} was stopped, but its summary is still not in ${missing.join(', ')}: ${(cause as Error).message} It is kept in the local spool at ${spoolPath}; run post again once the sink is back.`,
    { cause, details: { id, spoolPath, failedSinks: [...missing] } },
  );
}

/** The holder died during a stop after spooling the summary: it is safe there, not yet in the sinks. */
export function holderDiedWithSpooledSummary(id: string, pid: number, spoolPath: string): BackupError {
  return new BackupError('SINK_FAILED', `The holder (pid ${pid}) died while stopping backup ${id}; its summary is complete in the spool at ${spoolPath}. Deliver it to the sinks before relying on this backup.`, {
    details: { id, spoolPath },
  });
}
