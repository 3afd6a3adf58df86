import type pg from 'pg';
import { parseWalFileName } from '../summary/wal-file.js';
import type { ArchiverState } from './archiver-facts.js';

export type { ArchiverState } from './archiver-facts.js';

/** One round trip: pg_stat_archiver, the current segment, the cluster. */
export async function readArchiverState(client: pg.Client): Promise<ArchiverState> {
  const { rows } = await client.query<{
    sysid: string;
    in_recovery: boolean;
    segment_size: number;
    current_wal: string | null;
    last_archived_wal: string | null;
    last_archived_time: Date | null;
    failed_count: string;
    last_failed_wal: string | null;
    last_failed_time: Date | null;
  }>(
    `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
            pg_is_in_recovery() AS in_recovery,
            (SELECT bytes_per_wal_segment FROM pg_control_init())::int AS segment_size,
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current_wal,
            last_archived_wal, last_archived_time, failed_count::text AS failed_count, last_failed_wal, last_failed_time
       FROM pg_stat_archiver`,
  );
  const row = rows[0]!;
  // Only segments count (history and .backup files are archived too).
  const segment = (name: string | null): string | undefined => (name !== null && /^[0-9A-F]{24}$/.test(name) ? name : undefined);
  const current = segment(row.current_wal);
  const archived = segment(row.last_archived_wal);
  let lagSegments: number | undefined;
  if (current !== undefined && archived !== undefined) {
    const now = parseWalFileName(current, row.segment_size);
    const done = parseWalFileName(archived, row.segment_size);
    if (now.timeline === done.timeline) lagSegments = Math.max(0, Number(now.segmentNumber - done.segmentNumber) - 1);
  }
  return {
    systemIdentifier: row.sysid,
    inRecovery: row.in_recovery,
    ...(current !== undefined ? { currentWalFile: current } : {}),
    ...(row.last_archived_wal !== null ? { lastArchivedWal: row.last_archived_wal } : {}),
    ...(row.last_archived_time !== null ? { lastArchivedAt: row.last_archived_time } : {}),
    failedCount: Number(row.failed_count),
    ...(row.last_failed_wal !== null ? { lastFailedWal: row.last_failed_wal } : {}),
    ...(row.last_failed_time !== null ? { lastFailedAt: row.last_failed_time } : {}),
    ...(lagSegments !== undefined ? { lagSegments } : {}),
  };
}
