import { readdir, readFile, rm } from 'node:fs/promises';
import type { BackupErrorJson } from '../errors.js';
import type { SinkReceipt } from '../sinks/contract.js';
import { writeFileDurable } from '../util/durable-fs.js';

/** Where a backup held by a holder stands. `running` while held; the others are how it ended. */
export type RecordState = 'running' | 'stopped' | 'aborted' | 'lost' | 'sink-failed' | 'archive-timeout';

/** The state record of one backup ID in the runtime directory; once it has ended, its tombstone. */
export interface HolderRecord {
  readonly v: 1;
  readonly id: string;
  readonly state: RecordState;
  readonly pid: number;
  readonly startLsn?: string;
  readonly startWalFile?: string;
  readonly startedAt?: string;
  readonly endedAt?: string;
  /** Why it ended, for anything but `stopped`. */
  readonly reason?: string;
  readonly error?: BackupErrorJson;
  readonly stopLsn?: string;
  readonly stopWalFile?: string;
  readonly receipts?: readonly SinkReceipt[];
  /** Where the undelivered summary waits (sink-failed). */
  readonly spoolPath?: string;
}

export async function readRecord(path: string): Promise<HolderRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as HolderRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function writeRecord(path: string, record: HolderRecord): Promise<void> {
  await writeFileDurable(path, `${JSON.stringify(record, null, 2)}\n`);
}

/** All records in a runtime directory. */
export async function listRecords(runtimeDir: string): Promise<HolderRecord[]> {
  const names = (await readdir(runtimeDir).catch(() => [] as string[])).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  const records = await Promise.all(names.map((n) => readRecord(`${runtimeDir}/${n}`).catch(() => undefined)));
  return records.filter((r): r is HolderRecord => r !== undefined && r.v === 1);
}

/** Whether process `pid` exists (signal 0 probes without signalling). */
export function isAlive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function removeQuietly(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { force: true }).catch(() => undefined)));
}
