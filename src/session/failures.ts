import { BackupError, isBackupError } from '../errors.js';
import type { StopOutput } from '../postgres/held-backup.js';
import type { Spool } from '../spool/spool.js';
import { abortReason } from '../util/abort.js';

/** Any failure as a BackupError; what is not one already is a SERVER_ERROR (an abort: its reason). */
export function toBackupError(error: unknown): BackupError {
  if (isBackupError(error)) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    const converted = abortReason({ reason: error } as AbortSignal);
    return isBackupError(converted) ? converted : new BackupError('ABORTED', converted.message, { cause: error });
  }
  return new BackupError('SERVER_ERROR', (error as Error)?.message ?? String(error), { cause: error });
}

/** The same error with more details (BackupError is immutable). */
export function withDetails(error: BackupError, details: Record<string, unknown>): BackupError {
  return new BackupError(error.code, error.message, { cause: error.cause, details: { ...error.details, ...details } });
}

/**
 * The server has ended the backup but no summary could be made: keep what it returned beside the
 * spool, and say where in the error. When even that fails, the warning carries backup_label.
 */
export async function keepRawStopOutput(spool: Spool, id: string, raw: StopOutput, failure: BackupError, warn: (message: string) => void): Promise<BackupError> {
  let path: string;
  try {
    path = await spool.keepRawStopOutput({ id, stopLsn: raw.lsn, labelFile: raw.labelfile, tablespaceMap: raw.spcmapfile ?? '' });
  } catch (error) {
    warn(`Could not keep stop's raw output either: ${(error as Error).message}. backup_label was:\n${raw.labelfile}`);
    return failure;
  }
  return new BackupError(failure.code, `${failure.message} What the server returned at stop is kept in ${path}.`, {
    cause: failure,
    details: { ...failure.details, rawStopOutput: path },
  });
}
