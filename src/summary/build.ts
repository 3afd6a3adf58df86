import { BackupError } from '../errors.js';
import { parseBackupLabel } from './backup-label.js';
import { compareLsn } from './lsn.js';
import type { BackupSummary, SummaryAttachment } from './summary.js';
import { stopWalFileName } from './wal-file.js';

/** What a stop returned, and the server facts a summary records. */
export interface StopFacts {
  /** The backup ID the label must carry. */
  readonly id: string;
  /** backup_label as the stop function returned it. */
  readonly labelFile: string;
  /** tablespace_map as returned ('' when none). */
  readonly tablespaceMap: string;
  /** The stop LSN. */
  readonly stopLsn: string;
  /** wal_segment_size in bytes. */
  readonly walSegmentSize: number;
  /** server_version_num. */
  readonly serverVersion: number;
  /** The cluster's system identifier. */
  readonly systemIdentifier: string;
  /** ISO 8601 time of the start. */
  readonly startedAt: string;
  /** ISO 8601 time of the stop. */
  readonly stoppedAt: string;
  /** The tool that made it. */
  readonly tool: BackupSummary['tool'];
  /**
   * A standby backup's minimum recovery point at stop: the restored copy replays up to it, so the
   * WAL range reaches it (and its timeline) when it is past the stop LSN.
   */
  readonly recoveryEnd?: { readonly timeline: number; readonly lsn: string } | undefined;
}

/**
 * The summary of a stopped backup, without I/O.
 * @throws BackupError `SERVER_ERROR` when the label names another backup.
 */
export function buildSummary(facts: StopFacts): BackupSummary {
  const label = parseBackupLabel(facts.labelFile);
  if (label.label !== facts.id) throw new BackupError('SERVER_ERROR', `The server returned a backup_label for "${label.label}", not for ${facts.id}.`);
  const timeline = label.startTimeline ?? Number.parseInt(label.startWalFile.slice(0, 8), 16);
  const end = facts.recoveryEnd;
  const stopTimeline = end !== undefined && end.timeline > 0 ? end.timeline : timeline;
  const walEnd = end !== undefined && compareLsn(end.lsn, facts.stopLsn) > 0 ? end.lsn : facts.stopLsn;
  return {
    id: facts.id,
    labelFile: facts.labelFile,
    tablespaceMap: facts.tablespaceMap,
    startLsn: label.startLsn,
    stopLsn: facts.stopLsn,
    startWalFile: label.startWalFile,
    stopWalFile: stopWalFileName(stopTimeline, walEnd, facts.walSegmentSize),
    timeline,
    walSegmentSize: facts.walSegmentSize,
    serverVersion: facts.serverVersion,
    systemIdentifier: facts.systemIdentifier,
    backupFrom: label.backupFrom,
    startedAt: facts.startedAt,
    stoppedAt: facts.stoppedAt,
    tool: facts.tool,
  };
}

/** The summary, frozen, with its attachments (none: no `attachments` key at all). */
export function withAttachments(summary: BackupSummary, attachments: readonly SummaryAttachment[]): BackupSummary {
  return Object.freeze(attachments.length > 0 ? { ...summary, attachments: Object.freeze([...attachments]) } : summary);
}
