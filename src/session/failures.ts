import { BackupError, isBackupError } from '../errors.js';
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
