/**
 * Stable error codes. Other tools script against these: add freely, rename none.
 * Each one is described in `docs/errors.md`.
 */
export const ErrorCode = {
  /** The backup ID is not 1-200 chars of `[A-Za-z0-9._-]`, starts with `.`/`-`, or holds `..`. */
  INVALID_ID: 'INVALID_ID',
  /** An option or argument has a wrong type or value. */
  INVALID_OPTION: 'INVALID_OPTION',
  /** A sink/store URL cannot be understood. */
  INVALID_URL: 'INVALID_URL',
  /** The server could not be reached or refused the connection (after bounded retries). */
  CONNECTION_FAILED: 'CONNECTION_FAILED',
  /** The server is older than PostgreSQL 10, or otherwise not supported. */
  UNSUPPORTED_SERVER: 'UNSUPPORTED_SERVER',
  /** A server setting makes the backup impossible or unsafe (wal_level, archive_mode, hot_standby...). */
  SERVER_SETTING: 'SERVER_SETTING',
  /** The role lacks a privilege the backup needs (EXECUTE on the backup functions...). */
  PRIVILEGE: 'PRIVILEGE',
  /** A summary with this ID exists already with other content, or a backup with this ID is running. */
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  /** No summary or running backup with this ID. */
  NOT_FOUND: 'NOT_FOUND',
  /** The backup was aborted or its session lost; it is not valid. */
  BACKUP_ABORTED: 'BACKUP_ABORTED',
  /** A method was called in a state that does not allow it. Nothing was changed. */
  INVALID_STATE: 'INVALID_STATE',
  /** The server rejected a backup function call. */
  SERVER_ERROR: 'SERVER_ERROR',
  /** At least one sink did not accept the summary after retries. The summary is in the spool. */
  SINK_FAILED: 'SINK_FAILED',
  /** The summary was saved, but the WAL it needs was not archived in time. */
  ARCHIVE_TIMEOUT: 'ARCHIVE_TIMEOUT',
  /** A stored summary fails its checksums or cannot be parsed. */
  CORRUPT_SUMMARY: 'CORRUPT_SUMMARY',
  /** The holder process or its control socket did not answer as expected. */
  HOLDER_FAILED: 'HOLDER_FAILED',
  /** The data directory to restore into is in use by a running server (a live postmaster.pid). */
  DATA_DIR_IN_USE: 'DATA_DIR_IN_USE',
  /** The summary does not belong to this data directory: other system identifier or major version. */
  LABEL_MISMATCH: 'LABEL_MISMATCH',
  /** The data directory holds files that would make recovery go wrong (another backup's backup_label, recovery.conf, unknown files in pg_wal). */
  RESTORE_CONFLICT: 'RESTORE_CONFLICT',
  /** restore/drill: the recovery timeline asked for cannot hold the backup (it left the backup's timeline before the backup ends, or its history file is not in the archive). Nothing was changed. */
  TIMELINE_UNREACHABLE: 'TIMELINE_UNREACHABLE',
  /** WAL segments the backup needs are missing from the archive. */
  WAL_INCOMPLETE: 'WAL_INCOMPLETE',
  /** An operation was cancelled through its AbortSignal. */
  ABORTED: 'ABORTED',
  /** expire: the catalogue and the WAL archive disagree (a gap in a kept backup's range, a missing history file, an unreadable summary...), so no WAL was deleted. */
  ARCHIVE_MISMATCH: 'ARCHIVE_MISMATCH',
  /** drill: the restored copy did not reach consistency and promotion, or a check failed. */
  DRILL_FAILED: 'DRILL_FAILED',
  /** The CLI's runtime directory is a symlink, not a directory, owned by another user, or group/world-writable. */
  UNSAFE_RUNTIME_DIR: 'UNSAFE_RUNTIME_DIR',
  /** The WAL archive already holds a file of this name with other content; it was left as it is. */
  WAL_CONFLICT: 'WAL_CONFLICT',
  /** `archive-get`: the WAL archive has no file of this name (PostgreSQL asks for such files; not an error for it). */
  WAL_NOT_FOUND: 'WAL_NOT_FOUND',
  /** The WAL archive could not be read or written (store down, disk full, permissions); nothing partial was left. */
  ARCHIVE_FAILED: 'ARCHIVE_FAILED',
  /** An encrypted object failed authentication: a wrong or changed byte, a truncation, a header from another object. Nothing was written from it. */
  DECRYPTION_FAILED: 'DECRYPTION_FAILED',
  /** An object is encrypted under a key id the keyring does not hold (or no keyring was given). Nothing was written from it. */
  ENCRYPTION_KEY_MISSING: 'ENCRYPTION_KEY_MISSING',
  /** `requireEncrypted`: an object is stored in plaintext, so it cannot be authenticated. Nothing was written from it. */
  NOT_ENCRYPTED: 'NOT_ENCRYPTED',
  /** A key file is readable or writable by group or others, or is not a regular file. Nothing was read from it. */
  KEY_FILE_INSECURE: 'KEY_FILE_INSECURE',
  /** A key file or key variable does not hold 32-byte keys (raw, or base64 one per line). */
  INVALID_KEY: 'INVALID_KEY',
  /** `check`: archive_command (or a standby's restore_command) is not pg-split-backup's, or points at another archive. */
  ARCHIVE_COMMAND_MISMATCH: 'ARCHIVE_COMMAND_MISMATCH',
  /** `check`: the summary store cannot be listed, or a probe object cannot be written, read back and removed. */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  /** `check`: the store or the archive belongs to another cluster (system identifier). */
  SYSTEM_ID_MISMATCH: 'SYSTEM_ID_MISMATCH',
  /** `check`: at least one check failed; `details.checks` gives each with its own code. */
  CHECK_FAILED: 'CHECK_FAILED',
  /** `info --data-directory`: `pg_wal/archive_status` or the archive-push spool could not be read (permissions, I/O). Nothing was changed. */
  ARCHIVE_QUEUE_UNREADABLE: 'ARCHIVE_QUEUE_UNREADABLE',
} as const;

/** One of the stable {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const BRAND = Symbol.for('pg-split-backup.BackupError');

/** The JSON form of a {@link BackupError}. */
export interface BackupErrorJson {
  /** The stable code. */
  readonly code: ErrorCode;
  /** What happened and what to do. */
  readonly message: string;
  /** Machine-readable facts. */
  readonly details: Readonly<Record<string, unknown>>;
}

/** Options accepted by {@link BackupError}. */
export interface BackupErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /** Extra machine-readable facts (paths, setting names...). Never secrets. */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * The one error type the library throws. Switch on {@link BackupError.code}, never on the message.
 *
 * @example
 * ```ts
 * try { await session.stop(); }
 * catch (err) {
 *   if (isBackupError(err) && err.code === 'SINK_FAILED') console.error(err.details?.spoolPath);
 *   throw err;
 * }
 * ```
 */
export class BackupError extends Error {
  /** Always `BackupError`. */
  override readonly name = 'BackupError';
  /** The stable code: switch on this, never on the message. */
  readonly code: ErrorCode;
  /** Machine-readable facts (paths, setting names...). Never secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: BackupErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** A JSON form for `--json` output and logs. */
  toJSON(): BackupErrorJson {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * True for a {@link BackupError}, also one created by another copy of this package
 * (another realm or a duplicated install), optionally with the given code.
 */
export function isBackupError(value: unknown, code?: ErrorCode): value is BackupError {
  if (typeof value !== 'object' || value === null) return false;
  if (!(value instanceof BackupError) && (value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as BackupError).code === code;
}
