import type pg from 'pg';
import { BackupError } from '../errors.js';
import { dialectFor, MIN_SERVER_VERSION } from './dialect.js';

/** What the session needs to know about the server before it starts a backup. */
export interface ServerInfo {
  /** `server_version_num`. */
  readonly serverVersion: number;
  readonly systemIdentifier: string;
  readonly walSegmentSize: number;
  readonly inRecovery: boolean;
  readonly walLevel: string;
  readonly archiveMode: string;
  readonly archiveCommand: string;
  /** `archive_library` (15+), '' before. */
  readonly archiveLibrary: string;
  readonly canStart: boolean;
  readonly canStop: boolean;
  /** Whether `pg_stat_file` may be called, which lets the archive wait look at `archive_status`. */
  readonly canStatFile: boolean;
  readonly isSuperuser: boolean;
  readonly currentUser: string;
}

interface InfoRow {
  version: number;
  system_identifier: string;
  wal_segment_size: number;
  in_recovery: boolean;
  wal_level: string;
  archive_mode: string;
  archive_command: string;
  archive_library: string | null;
  can_start: boolean;
  can_stop: boolean;
  can_stat_file: boolean;
  is_superuser: boolean;
  current_user: string;
}

/** Reads everything in one round trip. */
export async function readServerInfo(client: pg.Client): Promise<ServerInfo> {
  const versionRow = await client.query<{ version: number }>("SELECT current_setting('server_version_num')::int AS version");
  const serverVersion = versionRow.rows[0]?.version ?? 0;
  if (serverVersion < MIN_SERVER_VERSION) {
    throw new BackupError('UNSUPPORTED_SERVER', `PostgreSQL ${serverVersion} is not supported: pg-split-backup needs PostgreSQL 10 or later.`, {
      details: { serverVersion },
    });
  }
  const dialect = dialectFor(serverVersion);
  const { rows } = await client.query<InfoRow>(
    `SELECT current_setting('server_version_num')::int AS version,
            (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
            (SELECT bytes_per_wal_segment FROM pg_control_init())::int AS wal_segment_size,
            pg_is_in_recovery() AS in_recovery,
            current_setting('wal_level') AS wal_level,
            current_setting('archive_mode') AS archive_mode,
            current_setting('archive_command') AS archive_command,
            current_setting('archive_library', true) AS archive_library,
            has_function_privilege($1::text, 'EXECUTE') AS can_start,
            has_function_privilege($2::text, 'EXECUTE') AS can_stop,
            has_function_privilege('pg_stat_file(text, boolean)', 'EXECUTE') AS can_stat_file,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS is_superuser,
            current_user::text AS current_user`,
    [dialect.startFunction, dialect.stopFunction],
  );
  const row = rows[0];
  if (row === undefined) throw new BackupError('SERVER_ERROR', 'The server returned no row for its settings.');
  return {
    serverVersion: row.version,
    systemIdentifier: row.system_identifier,
    walSegmentSize: row.wal_segment_size,
    inRecovery: row.in_recovery,
    walLevel: row.wal_level,
    archiveMode: row.archive_mode,
    archiveCommand: row.archive_command,
    archiveLibrary: row.archive_library ?? '',
    canStart: row.can_start,
    canStop: row.can_stop,
    canStatFile: row.can_stat_file,
    isSuperuser: row.is_superuser,
    currentUser: row.current_user,
  };
}

/** What the caller asks of the server. */
export interface PreflightRequirements {
  /** Refuse a primary whose WAL is not archived (the restore needs that WAL from somewhere). */
  readonly requireArchiving: boolean;
}

/**
 * Refuses settings and privileges that make the backup impossible or unrestorable,
 * before the server is asked to start anything.
 */
export function preflight(info: ServerInfo, requirements: PreflightRequirements): void {
  if (info.walLevel === 'minimal') {
    throw new BackupError(
      'SERVER_SETTING',
      'wal_level is minimal: the server cannot take an online backup. Set wal_level = replica (or logical) and restart PostgreSQL.',
      { details: { setting: 'wal_level', value: info.walLevel } },
    );
  }
  const dialect = dialectFor(info.serverVersion);
  const missing = [!info.canStart && dialect.startFunction, !info.canStop && dialect.stopFunction].filter(Boolean);
  if (missing.length > 0) {
    throw new BackupError(
      'PRIVILEGE',
      `Role ${info.currentUser} may not run ${missing.join(' and ')}. Connect as a superuser, or GRANT EXECUTE ON FUNCTION ${missing.join(', ')} TO ${info.currentUser}.`,
      { details: { role: info.currentUser, functions: missing } },
    );
  }
  // On a standby the primary archives; the standby's own archive_mode says nothing about that.
  if (requirements.requireArchiving && !info.inRecovery) {
    if (info.archiveMode === 'off') {
      throw new BackupError(
        'SERVER_SETTING',
        'archive_mode is off: the WAL this backup needs to restore would not be archived. Set archive_mode = on and an archive_command, then restart PostgreSQL.',
        { details: { setting: 'archive_mode', value: info.archiveMode } },
      );
    }
    if (info.archiveCommand.trim() === '' && info.archiveLibrary.trim() === '') {
      throw new BackupError(
        'SERVER_SETTING',
        'archive_mode is on but neither archive_command nor archive_library is set: no WAL is being archived. Set one and reload PostgreSQL.',
        { details: { setting: 'archive_command', value: '' } },
      );
    }
  }
}
