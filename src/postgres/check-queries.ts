import type pg from 'pg';

/** What `check` reads besides {@link readServerInfo}'s facts. */
export interface CheckSettings {
  /** `restore_command` (12+; '' before: recovery.conf is not visible over SQL). */
  readonly restoreCommand: string;
  /** Whether the role may run `pg_switch_wal()` (superuser, or GRANT EXECUTE). */
  readonly canSwitchWal: boolean;
}

/** Reads the settings and privileges `check` needs in one round trip. */
export async function readCheckSettings(client: pg.Client): Promise<CheckSettings> {
  const { rows } = await client.query<{ restore_command: string | null; can_switch: boolean }>(
    `SELECT current_setting('restore_command', true) AS restore_command,
            has_function_privilege('pg_switch_wal()', 'EXECUTE') AS can_switch`,
  );
  return { restoreCommand: rows[0]?.restore_command ?? '', canSwitchWal: rows[0]?.can_switch ?? false };
}

/**
 * Writes a little WAL (a transaction id's commit) and switches to a new segment; returns the name
 * of the segment just completed, which the archiver will hand to archive_command. Without the
 * write, a switch with nothing new since the last one does nothing and names the segment in use.
 */
export async function switchWal(client: pg.Client): Promise<string> {
  await client.query('SELECT txid_current()');
  const { rows } = await client.query<{ walfile: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS walfile');
  return rows[0]!.walfile;
}
