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
  /** Whether files in the data directory can be read over SQL (WAL for includeWal, pg_control on a standby). */
  readonly canReadFiles: boolean;
  /** Whether the role may create replication slots (superuser or REPLICATION). */
  readonly canReplicate: boolean;
  readonly maxReplicationSlots: number;
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
  can_read_files: boolean;
  can_replicate: boolean;
  max_replication_slots: number;
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
            -- 10 checks for superuser inside pg_read_binary_file; 11+ lets GRANT EXECUTE decide.
            CASE WHEN current_setting('server_version_num')::int < 110000
                 THEN (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
                 ELSE has_function_privilege('pg_read_binary_file(text)', 'EXECUTE') END AS can_read_files,
            (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user) AS can_replicate,
            current_setting('max_replication_slots')::int AS max_replication_slots,
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
    canReadFiles: row.can_read_files,
    canReplicate: row.can_replicate,
    maxReplicationSlots: row.max_replication_slots,
    currentUser: row.current_user,
  };
}

/** What the caller asks of the server. */
export interface PreflightRequirements {
  /** Refuse a primary whose WAL is not archived (the restore needs that WAL from somewhere). */
  readonly requireArchiving: boolean;
  /** The backup will carry its own WAL (a temporary slot, then the segments read over SQL). */
  readonly includeWal: boolean;
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
  const readers = info.serverVersion < 110000 ? 'a superuser' : `a role with EXECUTE on pg_read_binary_file(text) (GRANT EXECUTE ON FUNCTION pg_read_binary_file(text) TO ${info.currentUser})`;
  if (info.inRecovery && !info.canReadFiles) {
    throw new BackupError(
      'PRIVILEGE',
      `A backup from a standby must ship the standby's pg_control, read over SQL right after stop (the restored cluster takes its end point from it), but role ${info.currentUser} cannot read files. Connect as ${readers}.`,
      { details: { role: info.currentUser, functions: ['pg_read_binary_file(text)'] } },
    );
  }
  if (requirements.includeWal) {
    if (!info.canReadFiles) {
      throw new BackupError('PRIVILEGE', `includeWal reads the backup's WAL over SQL, which role ${info.currentUser} may not do. Connect as ${readers}.`, {
        details: { role: info.currentUser, functions: ['pg_read_binary_file(text)'] },
      });
    }
    if (!info.canReplicate) {
      throw new BackupError(
        'PRIVILEGE',
        `includeWal holds the backup's WAL with a temporary replication slot, which role ${info.currentUser} may not create. ALTER ROLE ${info.currentUser} REPLICATION, or connect as a superuser.`,
        { details: { role: info.currentUser } },
      );
    }
    if (info.maxReplicationSlots < 1) {
      throw new BackupError('SERVER_SETTING', 'includeWal needs a replication slot, but max_replication_slots is 0. Raise it and restart PostgreSQL.', {
        details: { setting: 'max_replication_slots', value: '0' },
      });
    }
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
