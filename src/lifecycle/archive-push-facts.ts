// Kept apart from its reader (agent/archive-push-queue.ts, which owns the spool format) so that
// infoMetrics can take it as plain data.

/**
 * The `archive-push --async` pusher's queue on the database host, as `readArchivePushQueue` reads
 * it: what `info --data-directory` turns into metrics. Counts include `.history`, `.backup` and
 * `.partial` files, which PostgreSQL archives like segments.
 */
export interface ArchivePushQueue {
  /** The data directory, absolute. */
  readonly dataDirectory: string;
  /** The pusher's spool directory, absolute (it need not exist: no pusher ran yet). */
  readonly spoolDirectory: string;
  /** The cluster's system identifier (`global/pg_control`), the label the other metrics use. */
  readonly systemIdentifier: string;
  /** Files PostgreSQL still has to archive: its `.ready` files in `pg_wal/archive_status`. */
  readonly ready: number;
  /**
   * Of the ready files, those the pusher has stored already, ahead of PostgreSQL asking: an
   * acknowledgement or a fast-path marker that names the file as it is now. archive_command
   * answers them at once.
   */
  readonly storedAhead: number;
  /** Of the ready files, those not stored yet (`ready - storedAhead`): the pusher's queue. */
  readonly pending: number;
  /** Of the pending files, those whose last push failed (the pusher left an error for them). */
  readonly failed: number;
  /** The newest of those failures: the file. */
  readonly lastFailedWal?: string;
  /** The newest of those failures: its error code (`WAL_CONFLICT`, `ARCHIVE_FAILED`...). */
  readonly lastFailedCode?: string;
  /** The newest of those failures: when the pusher recorded it. */
  readonly lastFailedAt?: Date;
  /** Whether a pusher runs: its lock names a live process. */
  readonly pusherRunning: boolean;
  /** The pending file that has waited longest. */
  readonly oldestPendingWal?: string;
  /** When that file became ready (its `.ready` file's mtime: PostgreSQL finished it then). */
  readonly oldestPendingSince?: Date;
}
