// `info --format prometheus`: the report as the Prometheus text format (0.0.4), for node_exporter's
// textfile collector. Every series is a gauge; timestamps are Unix seconds.
import type { ArchiverState } from '../postgres/archiver-facts.js';
import type { ArchivePushQueue } from './archive-push-facts.js';
import type { BackupInfoReport } from './info.js';
import { MetricsText } from './metrics-text.js';

/** Options of {@link infoMetrics}. */
export interface InfoMetricsOptions {
  /** The time ages are measured against. @default now */
  readonly now?: Date;
  /** How long `backupInfo` took, in milliseconds, reported as `pgsb_info_duration_seconds`. */
  readonly durationMs?: number;
  /** The server's archiver (`readArchiverStatus`): archive lag and failures, labelled with its cluster. */
  readonly archiver?: ArchiverState;
  /**
   * The archive-push --async pusher's queue on this host (`readArchivePushQueue`): files ready,
   * stored ahead, still to push and since when, recorded failures, whether a pusher runs;
   * labelled with its cluster.
   */
  readonly archivePush?: ArchivePushQueue;
}

const UP_HELP = '1 when the store (and the archive, server and data directory, when given) answered in time.';
const DURATION_HELP = 'How long reading the store and the archive took.';

const seconds = (iso: string): number => Date.parse(iso) / 1000;

/**
 * The metrics of an info report: per cluster the number of backups and of restorable ones, the
 * last backup's time and age, the recoverable window's start and end (with the timeline it ends
 * on), backups whose WAL has a hole; per archive timeline its segments, bytes and gaps; with
 * `archiver` the server's archive lag, with `archivePush` the async pusher's queue; and
 * `pgsb_up 1`. Alert on `pgsb_up == 0`, a growing `pgsb_last_backup_age_seconds`,
 * `pgsb_recoverable_window_end_age_seconds` (archiving stalled), `pgsb_wal_archive_gaps > 0` and
 * `pgsb_archive_push_oldest_pending_age_seconds` (the pusher falls behind or fails).
 */
export function infoMetrics(report: BackupInfoReport, options: InfoMetricsOptions = {}): string {
  const now = (options.now ?? new Date()).getTime() / 1000;
  const metrics = new MetricsText();
  const add = metrics.gauge.bind(metrics);
  add('pgsb_up', UP_HELP, 1);
  if (options.durationMs !== undefined) add('pgsb_info_duration_seconds', DURATION_HELP, options.durationMs / 1000);
  add('pgsb_unreadable_summaries', 'Summaries listed but unreadable (damaged, undecryptable, key missing): never counted as backups.', report.unreadable.length);
  const withArchive = report.archive !== undefined;
  for (const cluster of report.clusters) {
    const labels = { system_identifier: cluster.systemIdentifier };
    add('pgsb_backups', 'Backups in the store, per cluster.', cluster.backups.length, labels);
    const last = cluster.backups[cluster.backups.length - 1];
    if (last !== undefined) {
      add('pgsb_last_backup_timestamp_seconds', 'When the newest backup stopped.', seconds(last.stoppedAt), labels);
      add('pgsb_last_backup_age_seconds', 'Seconds since the newest backup stopped.', now - seconds(last.stoppedAt), labels);
    }
    if (!withArchive) continue;
    const restorable = cluster.backups.filter((b) => b.selfContained || (b.timelines?.length ?? 0) > 0);
    add('pgsb_restorable_backups', 'Backups whose WAL is all in the archive (or that carry it).', restorable.length, labels);
    const newest = restorable[restorable.length - 1];
    if (newest !== undefined) add('pgsb_last_restorable_backup_age_seconds', 'Seconds since the newest restorable backup stopped.', now - seconds(newest.stoppedAt), labels);
    add('pgsb_backups_wal_missing', 'Backups with a hole in the WAL they need (missing before the last archived segment).', cluster.backups.filter((b) => (b.wal?.missing.length ?? 0) > 0).length, labels);
    const window = cluster.window;
    add('pgsb_recoverable', '1 when some backup restores (a recoverable window exists).', window ? 1 : 0, labels);
    if (window) {
      add('pgsb_recoverable_window_start_timestamp_seconds', 'The earliest point one can recover to: when the earliest restorable backup stopped.', seconds(window.fromTime), labels);
      const end = { ...labels, timeline: window.to.timeline };
      if (window.to.archivedAt !== undefined) {
        add('pgsb_recoverable_window_end_timestamp_seconds', 'When the last contiguous segment was archived (an upper bound for the last transaction one can recover).', seconds(window.to.archivedAt), end);
        add('pgsb_recoverable_window_end_age_seconds', 'Seconds since the last contiguous segment was archived: grows when archiving stalls.', now - seconds(window.to.archivedAt), end);
      }
      add('pgsb_recoverable_window_cut', '1 when a gap cuts the window (archived WAL after it cannot be replayed).', window.cutBy === undefined ? 0 : 1, labels);
    }
  }
  const archiver = options.archiver;
  if (archiver !== undefined) {
    const labels = { system_identifier: archiver.systemIdentifier };
    if (archiver.lagSegments !== undefined) add('pgsb_archive_lag_segments', 'Completed segments the server has not archived yet (0 when archiving keeps up).', archiver.lagSegments, labels);
    add('pgsb_archive_failed_count', 'archive_command failures since the statistics were reset (pg_stat_archiver.failed_count).', archiver.failedCount, labels);
    if (archiver.lastArchivedAt !== undefined) add('pgsb_archive_last_archived_age_seconds', 'Seconds since the server last archived a file.', now - archiver.lastArchivedAt.getTime() / 1000, labels);
    if (archiver.lastFailedAt !== undefined) add('pgsb_archive_last_failed_timestamp_seconds', 'When archive_command last failed.', archiver.lastFailedAt.getTime() / 1000, labels);
  }
  const queue = options.archivePush;
  if (queue !== undefined) {
    const labels = { system_identifier: queue.systemIdentifier };
    add('pgsb_archive_push_ready_segments', 'Files PostgreSQL still has to archive (.ready in pg_wal/archive_status), stored ahead or not.', queue.ready, labels);
    add('pgsb_archive_push_stored_ahead_segments', 'Ready files the async pusher has stored already: archive_command answers them at once.', queue.storedAhead, labels);
    add('pgsb_archive_push_queue_segments', 'Ready files not stored yet: the async pusher\'s queue.', queue.pending, labels);
    add('pgsb_archive_push_oldest_pending_age_seconds', 'Seconds since the oldest file not stored yet became ready (0 when none waits).', queue.oldestPendingSince === undefined ? 0 : Math.max(0, now - queue.oldestPendingSince.getTime() / 1000), labels);
    add('pgsb_archive_push_failed_segments', 'Files not stored yet whose last push failed (the pusher recorded an error).', queue.failed, labels);
    if (queue.lastFailedAt !== undefined) {
      add('pgsb_archive_push_last_failure_timestamp_seconds', 'When the pusher recorded the newest of those failures.', queue.lastFailedAt.getTime() / 1000, labels);
      add('pgsb_archive_push_last_failure_info', 'The newest failure\'s error code (WAL_CONFLICT: another server archives here; ARCHIVE_FAILED: the archive is down).', 1, { ...labels, code: queue.lastFailedCode ?? 'ARCHIVE_FAILED' });
    }
    add('pgsb_archive_push_pusher_running', '1 while an async pusher runs (its lock names a live process); it exits when idle.', queue.pusherRunning ? 1 : 0, labels);
  }
  for (const t of report.archive?.timelines ?? []) {
    const labels = { timeline: t.timeline };
    add('pgsb_wal_archive_segments', 'Segments archived, per timeline.', t.segments, labels);
    add('pgsb_wal_archive_bytes', 'Bytes archived, per timeline (as stored: compressed, sealed).', t.bytes, labels);
    add('pgsb_wal_archive_gaps', 'Holes between the first and last archived segment, per timeline.', t.gaps.length, labels);
  }
  return metrics.toString();
}

/** The metrics when the store or the archive did not answer: `pgsb_up 0`, and why (`pgsb_error_info`, the error code as a label). */
export function infoMetricsDown(code: string, options: InfoMetricsOptions = {}): string {
  const metrics = new MetricsText();
  metrics.gauge('pgsb_up', UP_HELP, 0);
  metrics.gauge('pgsb_error_info', 'Why pgsb_up is 0: the error code (ABORTED when --timeout passed).', 1, { code });
  if (options.durationMs !== undefined) metrics.gauge('pgsb_info_duration_seconds', DURATION_HELP, options.durationMs / 1000);
  return metrics.toString();
}
