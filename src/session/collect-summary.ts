import type pg from 'pg';
import { BackupError } from '../errors.js';
import { readStandbyControl, readWalSegments, releaseWal, type StandbyControl } from '../postgres/held-backup.js';
import type { ServerInfo } from '../postgres/server-info.js';
import { buildSummary, withAttachments } from '../summary/build.js';
import type { BackupSummary, SummaryAttachment } from '../summary/summary.js';
import { neededWalFiles } from '../summary/wal-range.js';
import { TOOL } from '../version.js';

/** What the session knows when the server has stopped the backup. */
export interface StoppedBackup {
  /** The backup ID. */
  readonly id: string;
  /** The server, as read at start. */
  readonly server: ServerInfo;
  /** ISO 8601 start time. */
  readonly startedAt: string;
  /** What the stop function returned. */
  readonly stopLsn: string;
  /** backup_label. */
  readonly labelFile: string;
  /** tablespace_map ('' when none). */
  readonly tablespaceMap: string;
  /** The temporary slot holding the WAL of a self-contained backup, to read its WAL into it. */
  readonly walSlot?: string | undefined;
}

/** The summary, and what could not be read into it (the summary stands; the backup must not be relied on). */
export interface CollectedSummary {
  /** Complete but for what `problem` names. */
  readonly summary: BackupSummary;
  /** Set when the standby's pg_control or the WAL could not be read. */
  readonly problem?: BackupError;
}

/**
 * Builds the summary of a stopped backup and reads into it what restore needs from the server: a
 * standby's pg_control, and the WAL of a self-contained backup. Anything read after the server
 * stopped the backup may fail; the label must survive that, so a failed read is reported, not thrown.
 */
export async function collectSummary(client: pg.Client, stopped: StoppedBackup): Promise<CollectedSummary> {
  const { id, server } = stopped;
  const attachments: SummaryAttachment[] = [];
  let problem: BackupError | undefined;
  const read = async <T>(what: string, reader: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await reader();
    } catch (error) {
      problem ??= new BackupError('SERVER_ERROR', `The summary of backup ${id} is saved, but ${what} could not be read into it: ${(error as Error).message}. Do not rely on this backup.`, {
        cause: error,
        details: { id },
      });
      return undefined;
    }
  };
  let standby: StandbyControl | undefined;
  if (server.inRecovery) {
    // The restored copy takes its end point from this pg_control's minRecoveryPoint.
    standby = await read("the standby's pg_control", () => readStandbyControl(client));
    if (standby !== undefined) attachments.push({ name: 'global/pg_control', body: standby.body });
  }
  const summary = buildSummary({
    id,
    labelFile: stopped.labelFile,
    tablespaceMap: stopped.tablespaceMap,
    stopLsn: stopped.stopLsn,
    walSegmentSize: server.walSegmentSize,
    serverVersion: server.serverVersion,
    systemIdentifier: server.systemIdentifier,
    startedAt: stopped.startedAt,
    stoppedAt: new Date().toISOString(),
    tool: TOOL,
    recoveryEnd: standby,
  });
  if (stopped.walSlot !== undefined) {
    const wal = await read('its WAL', () => readWalSegments(client, neededWalFiles(summary)));
    if (wal !== undefined) attachments.push(...wal);
    await releaseWal(client, stopped.walSlot);
  }
  return { summary: withAttachments(summary, attachments), ...(problem ? { problem } : {}) };
}
