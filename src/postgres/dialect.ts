/**
 * The two generations of the non-exclusive low-level backup API.
 * 10-14: pg_start_backup/pg_stop_backup, where exclusive mode is the default and must be turned off.
 * 15+: pg_backup_start/pg_backup_stop (exclusive mode is gone).
 */
export interface BackupDialect {
  /** `$1` label, `$2` fast. Returns one row with `lsn`. */
  readonly startSql: string;
  /** `$1` wait_for_archive. Returns one row with `lsn, labelfile, spcmapfile`. */
  readonly stopSql: string;
  /** Signatures for `has_function_privilege`. */
  readonly startFunction: string;
  readonly stopFunction: string;
}

const LEGACY: BackupDialect = {
  startSql: 'SELECT pg_start_backup($1::text, $2::boolean, false)::text AS lsn',
  stopSql: 'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_stop_backup(false, $1::boolean)',
  startFunction: 'pg_start_backup(text, boolean, boolean)',
  stopFunction: 'pg_stop_backup(boolean, boolean)',
};

const MODERN: BackupDialect = {
  startSql: 'SELECT pg_backup_start($1::text, $2::boolean)::text AS lsn',
  stopSql: 'SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop($1::boolean)',
  startFunction: 'pg_backup_start(text, boolean)',
  stopFunction: 'pg_backup_stop(boolean)',
};

/** Oldest `server_version_num` supported. */
export const MIN_SERVER_VERSION = 100000;

/** The backup API for a `server_version_num`. */
export function dialectFor(serverVersion: number): BackupDialect {
  return serverVersion >= 150000 ? MODERN : LEGACY;
}

/** Settings that would kill or stall a held session, per version: all set for the session only. */
export function sessionSettings(serverVersion: number): Record<string, string> {
  const settings: Record<string, string> = {
    statement_timeout: '0',
    idle_in_transaction_session_timeout: '0',
    lock_timeout: '0',
    // A synchronous_standby_names naming a missing standby would make start/stop wait forever.
    synchronous_commit: 'off',
  };
  // The server's side of the same check: a client that vanished without a word (a dropped
  // network path) is noticed in about a minute, and its backup aborted, instead of after hours.
  settings.tcp_keepalives_idle = '30';
  settings.tcp_keepalives_interval = '10';
  settings.tcp_keepalives_count = '3';
  if (serverVersion >= 120000) settings.tcp_user_timeout = '60000';
  if (serverVersion >= 140000) settings.idle_session_timeout = '0';
  if (serverVersion >= 170000) settings.transaction_timeout = '0';
  return settings;
}
