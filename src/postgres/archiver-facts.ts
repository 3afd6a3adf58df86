// Kept apart from the queries so that the public types never pull in pg's.

/** The archiver as the server reports it: what `info --dbname` turns into lag metrics. */
export interface ArchiverState {
  /** The cluster's system identifier. */
  readonly systemIdentifier: string;
  /** A standby (in recovery). */
  readonly inRecovery: boolean;
  /** The segment being written now (`undefined` on a standby, which cannot tell). */
  readonly currentWalFile?: string;
  /** pg_stat_archiver.last_archived_wal. */
  readonly lastArchivedWal?: string;
  /** pg_stat_archiver.last_archived_time. */
  readonly lastArchivedAt?: Date;
  /** Failed archive_command runs since the statistics were reset. */
  readonly failedCount: number;
  /** pg_stat_archiver.last_failed_wal. */
  readonly lastFailedWal?: string;
  /** pg_stat_archiver.last_failed_time. */
  readonly lastFailedAt?: Date;
  /**
   * Completed segments not archived yet: from after the last archived one to before the one being
   * written (0 when archiving keeps up; `undefined` when it cannot be told: a standby, nothing
   * archived yet, or another timeline).
   */
  readonly lagSegments?: number;
}
