// Every SQL statement a held backup sends besides the preflight: start, stop, the settings that
// keep the session alive, the temporary slot, and what is read into the summary after stop.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { BackupError, isBackupError } from '../errors.js';
import { dialectFor, sessionSettings } from './dialect.js';

/** What the backup stop function returned. */
export interface StopOutput {
  /** The stop LSN. */
  readonly lsn: string;
  /** backup_label's content. */
  readonly labelfile: string;
  /** tablespace_map's content (null or '' when there are no tablespaces). */
  readonly spcmapfile: string | null;
}

/** Makes the session immune to the server's timeouts (per version), for this session only. */
export async function applySessionSettings(client: pg.Client, serverVersion: number): Promise<void> {
  const settings = sessionSettings(serverVersion);
  await client.query('SELECT set_config(name, value, false) FROM unnest($1::text[], $2::text[]) AS s(name, value)', [Object.keys(settings), Object.values(settings)]);
}

/**
 * Reserves the WAL from now on with a temporary physical slot (gone with the session whatever
 * happens), so the WAL a self-contained backup reads at stop cannot be removed. Returns its name.
 */
export async function reserveWal(client: pg.Client): Promise<string> {
  const name = `pgsb_${randomBytes(8).toString('hex')}`;
  await client.query('SELECT pg_create_physical_replication_slot($1, true, true)', [name]);
  return name;
}

/** Drops the slot of {@link reserveWal} early; failure is harmless (it goes with the session). */
export async function releaseWal(client: pg.Client, name: string): Promise<void> {
  await client.query('SELECT pg_drop_replication_slot($1)', [name]).catch(() => undefined);
}

/** Starts the backup (the dialect of the server's version); resolves to the start LSN. */
export async function startBackupCall(client: pg.Client, serverVersion: number, label: string, fast: boolean): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>(dialectFor(serverVersion).startSql, [label, fast]);
  const lsn = rows[0]?.lsn;
  if (lsn === undefined) throw new BackupError('SERVER_ERROR', 'The backup start function returned no LSN.');
  return lsn;
}

/** Stops the backup without the server's own archive wait (a cancel during it loses the label). */
export async function stopBackupCall(client: pg.Client, serverVersion: number): Promise<StopOutput> {
  const { rows } = await client.query<StopOutput>(dialectFor(serverVersion).stopSql, [false]);
  const row = rows[0];
  if (row === undefined) throw new BackupError('SERVER_ERROR', 'The backup stop function returned no row.');
  return row;
}

/** The timeline of the latest checkpoint in pg_control: the backup's (a restartpoint on a standby). */
export async function checkpointTimeline(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ timeline_id: number }>('SELECT timeline_id FROM pg_control_checkpoint()');
  const timeline = rows[0]?.timeline_id;
  if (timeline === undefined) throw new BackupError('SERVER_ERROR', 'pg_control_checkpoint() returned no timeline.');
  return timeline;
}

/** A standby's pg_control at stop and the minimum recovery point it records. */
export interface StandbyControl {
  /** global/pg_control's bytes. */
  readonly body: Buffer;
  /** min_recovery_end_timeline (0 when unset). */
  readonly timeline: number;
  /** min_recovery_end_lsn. */
  readonly lsn: string;
}

/**
 * A standby's pg_control of this moment: its restored copy takes its end point from
 * minRecoveryPoint, so the summary ships it and the WAL range must reach where it points.
 */
export async function readStandbyControl(client: pg.Client): Promise<StandbyControl> {
  const { rows } = await client.query<{ body: Buffer; tli: number; lsn: string }>(
    "SELECT pg_read_binary_file('global/pg_control') AS body, min_recovery_end_timeline AS tli, min_recovery_end_lsn::text AS lsn FROM pg_control_recovery()",
  );
  const row = rows[0]!;
  return { body: row.body, timeline: row.tli, lsn: row.lsn };
}

/** Reads WAL segments from pg_wal over SQL, in order. */
export async function readWalSegments(client: pg.Client, names: readonly string[]): Promise<{ name: string; body: Buffer }[]> {
  const files: { name: string; body: Buffer }[] = [];
  for (const name of names) {
    const { rows } = await client.query<{ body: Buffer }>('SELECT pg_read_binary_file($1) AS body', [`pg_wal/${name}`]);
    files.push({ name: `pg_wal/${name}`, body: rows[0]!.body });
  }
  return files;
}

/**
 * The stable code of a server's refusal to start or stop a backup: `PRIVILEGE` (42501),
 * `SERVER_SETTING` (wal_level), else undefined (the caller decides between SERVER_ERROR and a
 * lost session).
 */
export function refusalError(error: unknown, what: 'start' | 'stop'): BackupError | undefined {
  if (isBackupError(error)) return error;
  const sqlState = (error as { code?: string }).code;
  const message = (error as Error)?.message ?? String(error);
  if (sqlState === '42501') return new BackupError('PRIVILEGE', `The server refused to ${what} the backup: ${message}`, { cause: error });
  if (sqlState === '55000' && /WAL level/i.test(message)) return new BackupError('SERVER_SETTING', `The server refused to ${what} the backup: ${message}`, { cause: error });
  return undefined;
}

/** Ends a client, and destroys its socket if a dead network path keeps end() pending. */
export async function closeClient(client: pg.Client, graceMs: number): Promise<void> {
  await Promise.race([client.end().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** A heartbeat: `SELECT 1` that fails unless answered within `timeoutMs`. */
export async function ping(client: pg.Client, timeoutMs: number): Promise<void> {
  await client.query({ text: 'SELECT 1', query_timeout: timeoutMs } as pg.QueryConfig);
}
