import { isBackupError } from '../errors.js';

/** The CLI's exit codes: a contract with the backup programs that run its hooks. */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** Anything not covered below (server error, archive timeout, connection failure...). */
  FAILURE: 1,
  /** Usage or bad input; nothing was started. */
  USAGE: 2,
  /** The backup is not running: aborted, lost, never started, unknown ID. The reason is printed. */
  NOT_RUNNING: 3,
  /** The summary was not saved to every sink; it is kept in the local spool, whose path is printed. */
  SUMMARY_NOT_SAVED: 4,
  /** `verify` and `restore --wal-archive`: WAL files the backup needs are missing from the archive (listed). */
  WAL_INCOMPLETE: 5,
  /** `expire`: the catalogue and the archive disagree; summaries were removed as planned, no WAL was (the reasons are printed). */
  ARCHIVE_MISMATCH: 6,
  /** `drill`: the restore did not reach consistency, or a check failed (the report is printed). */
  DRILL_FAILED: 7,
  /**
   * `archive-get`: the stored file cannot be trusted (it fails decryption or authentication, its key
   * is missing, it is plaintext where encryption is required), or, outside a standby, it could not
   * be fetched for any reason but its absence (`details.stopsRecovery`: the archive down after the
   * retries, a damaged file). Above 125, so PostgreSQL stops recovery with FATAL instead of taking
   * the file as missing and ending recovery early.
   */
  STOP_RECOVERY: 126,
  /** `check`: at least one check failed (each is printed with its own code). */
  CHECK_FAILED: 8,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Error code → exit code, the one place this is decided. Codes not listed exit 1.
 * `CONNECTION_FAILED` is deliberately 1, not 2: the library has already retried what can pass, but
 * a server that is restarting or unreachable is not bad input, and a retrying backup program
 * should retry it. `CORRUPT_SUMMARY` is 2, as in restore: the summary named is unusable input.
 */
const EXIT_CODE_BY_ERROR: Readonly<Record<string, ExitCode>> = {
  INVALID_ID: ExitCode.USAGE,
  INVALID_OPTION: ExitCode.USAGE,
  INVALID_URL: ExitCode.USAGE,
  ALREADY_EXISTS: ExitCode.USAGE,
  SERVER_SETTING: ExitCode.USAGE,
  PRIVILEGE: ExitCode.USAGE,
  UNSUPPORTED_SERVER: ExitCode.USAGE,
  UNSAFE_RUNTIME_DIR: ExitCode.USAGE,
  CORRUPT_SUMMARY: ExitCode.USAGE,
  // restore's refusals (docs/restore.md): the data directory given is not fit; nothing was changed.
  DATA_DIR_IN_USE: ExitCode.USAGE,
  LABEL_MISMATCH: ExitCode.USAGE,
  RESTORE_CONFLICT: ExitCode.USAGE,
  TIMELINE_UNREACHABLE: ExitCode.USAGE,
  BACKUP_ABORTED: ExitCode.NOT_RUNNING,
  NOT_FOUND: ExitCode.NOT_RUNNING,
  SINK_FAILED: ExitCode.SUMMARY_NOT_SAVED,
  WAL_INCOMPLETE: ExitCode.WAL_INCOMPLETE,
  ARCHIVE_MISMATCH: ExitCode.ARCHIVE_MISMATCH,
  DRILL_FAILED: ExitCode.DRILL_FAILED,
  CHECK_FAILED: ExitCode.CHECK_FAILED,
  // The object or the key given is unusable input, as CORRUPT_SUMMARY is.
  DECRYPTION_FAILED: ExitCode.USAGE,
  ENCRYPTION_KEY_MISSING: ExitCode.USAGE,
  NOT_ENCRYPTED: ExitCode.USAGE,
  KEY_FILE_INSECURE: ExitCode.USAGE,
  INVALID_KEY: ExitCode.USAGE,
};

/** What archive-get must not answer with 1 ("no such file"): recovery would end at that file. */
const STOPS_RECOVERY = new Set(['DECRYPTION_FAILED', 'ENCRYPTION_KEY_MISSING', 'NOT_ENCRYPTED', 'KEY_FILE_INSECURE', 'INVALID_KEY']);

/** The exit code for an error (1 for anything that is not a BackupError with a listed code). */
export function exitCodeFor(error: unknown, command?: string): ExitCode {
  if (!isBackupError(error)) return ExitCode.FAILURE;
  if (command === 'archive-get' && (STOPS_RECOVERY.has(error.code) || error.details.stopsRecovery === true)) return ExitCode.STOP_RECOVERY;
  return EXIT_CODE_BY_ERROR[error.code] ?? ExitCode.FAILURE;
}

/** The table printed by `--help` and documented in docs/hooks.md. */
export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  anything else (server error, connection failure, archive timeout...)
  2  usage or bad input; nothing was started (INVALID_ID, INVALID_URL, INVALID_OPTION,
     ALREADY_EXISTS, SERVER_SETTING, PRIVILEGE, UNSUPPORTED_SERVER, UNSAFE_RUNTIME_DIR, CORRUPT_SUMMARY)
  3  the backup is not running: aborted, lost, never started, unknown ID (the reason is printed)
  4  the summary was not saved to every sink; it is kept in the local spool (path printed)
  5  verify, restore --wal-archive: WAL files the backup needs are missing from the archive (listed)
  6  expire: the catalogue and the WAL archive disagree; no WAL was deleted (ARCHIVE_MISMATCH)
  7  drill: the restored copy did not come up consistent, or a check failed (DRILL_FAILED)
  8  check: a check failed; each is printed with its own code (CHECK_FAILED)
  126 archive-get: the stored file fails decryption or authentication, or its key is missing
     (other commands exit 2 for these); outside a standby also any failure to fetch a file that
     is there (archive down, damaged file). PostgreSQL stops recovery instead of ending it there`;
