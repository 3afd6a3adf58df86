import type pg from 'pg';

/** Where the server's archiver stands for one WAL file. */
export interface ArchiveProgress {
  readonly archived: boolean;
  readonly lastArchivedWal: string | null;
  readonly lastFailedWal: string | null;
}

/**
 * Whether `walFile` has been archived. With `pg_stat_file` this is exact: `.done` in
 * archive_status, or neither `.ready` nor the segment left (archived, then recycled).
 * Without it, `pg_stat_archiver.last_archived_wal` is compared, which can lag: the archiver may
 * archive this backup's `.backup` history file after the segment and report that instead.
 */
export async function readArchiveProgress(client: pg.Client, walFile: string, exact: boolean): Promise<ArchiveProgress> {
  const stats = await client.query<{ last_archived_wal: string | null; last_failed_wal: string | null }>(
    'SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver',
  );
  const lastArchivedWal = stats.rows[0]?.last_archived_wal ?? null;
  const lastFailedWal = stats.rows[0]?.last_failed_wal ?? null;
  if (exact) {
    const { rows } = await client.query<{ done: boolean; ready: boolean; segment: boolean }>(
      `SELECT (pg_stat_file($1, true)).size IS NOT NULL AS done,
              (pg_stat_file($2, true)).size IS NOT NULL AS ready,
              (pg_stat_file($3, true)).size IS NOT NULL AS segment`,
      [`pg_wal/archive_status/${walFile}.done`, `pg_wal/archive_status/${walFile}.ready`, `pg_wal/${walFile}`],
    );
    const row = rows[0];
    const archived = row !== undefined && (row.done || (!row.ready && !row.segment));
    return { archived, lastArchivedWal, lastFailedWal };
  }
  const prefix = lastArchivedWal !== null && /^[0-9A-F]{24}/.test(lastArchivedWal) ? lastArchivedWal.slice(0, 24) : null;
  return { archived: prefix !== null && prefix >= walFile, lastArchivedWal, lastFailedWal };
}
