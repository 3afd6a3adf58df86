/**
 * What `pg_backup_stop` returned, plus the facts needed to find, check and restore the data copy.
 * The split backup's second half: store it apart from the data copy, keyed by {@link BackupSummary.id}.
 */
export interface BackupSummary {
  /** The backup ID, which is also the `LABEL:` in {@link BackupSummary.labelFile}. */
  readonly id: string;
  /** The `backup_label` file content, byte for byte as the server returned it. */
  readonly labelFile: string;
  /** The `tablespace_map` content; an empty string when there are no tablespaces. */
  readonly tablespaceMap: string;
  /** Redo LSN of the backup checkpoint (`START WAL LOCATION`), e.g. `0/2000028`. */
  readonly startLsn: string;
  /** LSN returned by stop: WAL up to here is needed for a consistent restore. */
  readonly stopLsn: string;
  /** WAL file holding {@link BackupSummary.startLsn}. */
  readonly startWalFile: string;
  /** Last WAL file the restore needs. */
  readonly stopWalFile: string;
  /** Timeline of the backup. */
  readonly timeline: number;
  /** WAL segment size in bytes. */
  readonly walSegmentSize: number;
  /** `server_version_num`, e.g. 150018. */
  readonly serverVersion: number;
  /** `pg_control_system().system_identifier` as a decimal string (a uint64). */
  readonly systemIdentifier: string;
  /** Whether the backup was taken from a primary or a standby. */
  readonly backupFrom: 'primary' | 'standby';
  /** ISO 8601 time start returned. */
  readonly startedAt: string;
  /** ISO 8601 time stop returned. */
  readonly stoppedAt: string;
  /**
   * Binary files shipped with the summary, restored into the data directory by name:
   * `pg_wal/<segment>` (and a timeline history file) for a backup taken with `includeWal`, and
   * `global/pg_control` for a backup taken from a standby. Absent when there are none.
   */
  readonly attachments?: readonly SummaryAttachment[];
  /** The tool that wrote the summary. */
  readonly tool: {
    /** Package name. */
    readonly name: string;
    /** Package version. */
    readonly version: string;
  };
}

/** A binary file that travels with a summary. */
export interface SummaryAttachment {
  /** Path relative to the data directory: `pg_wal/000000010000000000000002`, `global/pg_control`. */
  readonly name: string;
  /** The file's bytes. */
  readonly body: Buffer;
}

/** Names an attachment may have: WAL segments and history files in pg_wal, and pg_control. */
export const ATTACHMENT_NAME = /^(pg_wal\/([0-9A-F]{24}|[0-9A-F]{8}\.history)|global\/pg_control)$/;

/** A summary as printed or sent between processes: attachments by name and size, without bodies. */
export type SummaryOverview = Omit<BackupSummary, 'attachments'> & {
  /** The attachments, without their bytes. */
  readonly attachments?: readonly AttachmentOverview[];
};

/** An attachment by name and size. */
export interface AttachmentOverview {
  /** As in {@link SummaryAttachment.name}. */
  readonly name: string;
  /** Bytes. */
  readonly size: number;
}

/** The summary without attachment bodies (a WAL segment is megabytes), for JSON output. */
export function summaryOverview(summary: BackupSummary | SummaryOverview): SummaryOverview {
  const { attachments, ...rest } = summary;
  if (attachments === undefined) return rest;
  return { ...rest, attachments: attachments.map((a) => ({ name: a.name, size: 'body' in a ? a.body.length : a.size })) };
}

/** The summary's format version, stored in `summary.json`. */
export const SUMMARY_FORMAT_VERSION = 1;
