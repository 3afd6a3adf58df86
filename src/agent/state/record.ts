import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupErrorJson } from '../../errors.js';
import { isValidBackupId } from '../../summary/backup-id.js';
import { readFileIfExists, writeFileDurable } from '../../util/durable-fs.js';
import { isRunning } from './process.js';

/**
 * Where a backup held by a holder stands. `running` while held, `stopping` while its stop is under
 * way; `stopped`, `aborted` and `lost` are how it ended (`aborted`/`lost` make the tombstone).
 */
export type RecordState = 'running' | 'stopping' | 'stopped' | 'aborted' | 'lost';

/** The state record of one backup ID in the runtime directory (`<id>.json`). */
export interface BackupRecord {
  /** Record format version. */
  readonly v: 1;
  readonly id: string;
  readonly state: RecordState;
  /** The holder's pid. */
  readonly pid: number;
  /** The holder's start time (Linux), to tell it from a later process with the same pid. */
  readonly startTicks?: string;
  readonly startLsn: string;
  readonly startWalFile: string;
  readonly timeline: number;
  readonly serverVersion: number;
  /** ISO 8601 time the server started the backup. */
  readonly startedAt: string;
  /** Longest hold before the holder aborts the backup, in ms (0: no limit). */
  readonly maxHoldMs: number;
  /** The sink URLs given to pre, for a later post to check. */
  readonly sinks: readonly string[];
  /** The spool directory the session persists the summary in before the sinks. */
  readonly spoolDirectory: string;
  /** Key files the summary is sealed with (paths, never keys), for a later post that delivers it from the spool. */
  readonly encryptionKeyFiles?: readonly string[];
  /** Encryption is required: plaintext summaries are refused. */
  readonly requireEncrypted?: boolean;
  /** Whether post waits for the backup's last WAL file to be archived (absent in older records: true). */
  readonly waitForArchive?: boolean;
  /**
   * For `stopped` with a summary that did not reach every sink at first: why the backup's last WAL
   * file was not seen archived (an archive timeout, or the holder died during the stop). A post
   * that later delivers the summary reports this instead of success.
   */
  readonly archiveError?: BackupErrorJson;
  /** Why it ended, for `aborted` and `lost`. */
  readonly reason?: string;
  /** ISO 8601 time it ended. */
  readonly endedAt?: string;
  readonly stopLsn?: string;
  readonly stopWalFile?: string;
  /** Where the summary was saved (sink receipts), for `stopped`. */
  readonly summaryLocations?: readonly string[];
  /**
   * For `stopped`: the stop completed on the server but not every sink took the summary
   * (`SINK_FAILED`, summary in the spool) or the WAL was not archived in time (`ARCHIVE_TIMEOUT`).
   * For `lost`: the error that ended it.
   */
  readonly error?: BackupErrorJson;
}

/** True for the states of a backup whose holder should still be alive. */
export function isActiveState(state: RecordState): boolean {
  return state === 'running' || state === 'stopping';
}

/** The record at `path`, or undefined when there is none (or it is unreadable). */
export async function readRecord(path: string): Promise<BackupRecord | undefined> {
  const text = (await readFileIfExists(path))?.toString('utf8');
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as BackupRecord;
    return record?.v === 1 && typeof record.id === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces the record atomically and durably (temp file, fsync, rename, fsync dir). */
export async function writeRecord(path: string, record: BackupRecord): Promise<void> {
  await writeFileDurable(path, `${JSON.stringify(record, null, 2)}\n`);
}

/** Every record in a runtime directory, sorted by ID. */
export async function listRecords(runtimeDir: string): Promise<BackupRecord[]> {
  const names = await readdir(runtimeDir).catch(() => [] as string[]);
  const ids = names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length)).filter(isValidBackupId).sort();
  const records = await Promise.all(ids.map((id) => readRecord(join(runtimeDir, `${id}.json`)).catch(() => undefined)));
  return records.filter((r): r is BackupRecord => r !== undefined);
}

/** Whether the holder a record names is still running. */
export function holderRunning(record: BackupRecord): boolean {
  return isRunning(record.startTicks === undefined ? { pid: record.pid } : { pid: record.pid, startTicks: record.startTicks });
}

/** Removes files, ignoring the ones already gone. */
export async function removeQuietly(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { force: true }).catch(() => undefined)));
}
