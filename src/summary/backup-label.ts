import { BackupError } from '../errors.js';

/** The fields of a `backup_label` file (every version 10-18). */
export interface BackupLabel {
  /** `START WAL LOCATION`: redo LSN of the backup checkpoint. */
  readonly startLsn: string;
  /** The file named after the start LSN. */
  readonly startWalFile: string;
  /** `CHECKPOINT LOCATION`: the backup checkpoint record. */
  readonly checkpointLsn: string;
  /** `streamed` for the low-level API and pg_basebackup. */
  readonly backupMethod: string;
  /** `primary` or `standby` (10-13 write `master`, reported as `primary`). */
  readonly backupFrom: 'primary' | 'standby';
  /** The word the server wrote. */
  readonly backupFromRaw: string;
  /** `START TIME` as written, e.g. `2026-11-25 02:00:00 UTC`. */
  readonly startTime: string;
  /** `LABEL`: the backup ID. */
  readonly label: string;
  /** `START TIMELINE` (11+). */
  readonly startTimeline?: number;
  /** `INCREMENTAL FROM LSN` (17+, incremental backups only). */
  readonly incrementalFromLsn?: string;
  /** `INCREMENTAL FROM TLI` (17+, incremental backups only). */
  readonly incrementalFromTimeline?: number;
}

const LSN = '([0-9A-F]{1,8}/[0-9A-F]{1,8})';
const LINES = {
  start: new RegExp(`^START WAL LOCATION: ${LSN} \\(file ([0-9A-F]{24})\\)$`),
  checkpoint: new RegExp(`^CHECKPOINT LOCATION: ${LSN}$`),
  method: /^BACKUP METHOD: (\S+)$/,
  from: /^BACKUP FROM: (\S+)$/,
  time: /^START TIME: (.+)$/,
  label: /^LABEL: (.*)$/,
  timeline: /^START TIMELINE: (\d+)$/,
  incrementalLsn: new RegExp(`^INCREMENTAL FROM LSN: ${LSN}$`),
  incrementalTli: /^INCREMENTAL FROM TLI: (\d+)$/,
};

function invalid(why: string): BackupError {
  return new BackupError('CORRUPT_SUMMARY', `Invalid backup_label: ${why}.`);
}

/**
 * Parses a `backup_label` as any PostgreSQL 10-18 writes it. Unknown lines are ignored so that a
 * newer server's additions do not break older readers; a missing or malformed required line throws.
 * @throws BackupError `CORRUPT_SUMMARY`.
 */
export function parseBackupLabel(text: string): BackupLabel {
  if (typeof text !== 'string') throw invalid('not text');
  if (text.includes('\r')) throw invalid('it contains a carriage return');
  const found = new Map<keyof typeof LINES, RegExpExecArray>();
  for (const line of text.split('\n')) {
    for (const [key, pattern] of Object.entries(LINES) as [keyof typeof LINES, RegExp][]) {
      const match = pattern.exec(line);
      if (match && !found.has(key)) found.set(key, match);
    }
  }
  const need = (key: keyof typeof LINES, line: string): RegExpExecArray => {
    const match = found.get(key);
    if (match === undefined) throw invalid(`no valid "${line}" line`);
    return match;
  };
  const start = need('start', 'START WAL LOCATION');
  const fromRaw = need('from', 'BACKUP FROM')[1]!;
  if (!['primary', 'master', 'standby'].includes(fromRaw)) throw invalid(`unknown BACKUP FROM ${fromRaw}`);
  const result: BackupLabel = {
    startLsn: start[1]!,
    startWalFile: start[2]!,
    checkpointLsn: need('checkpoint', 'CHECKPOINT LOCATION')[1]!,
    backupMethod: need('method', 'BACKUP METHOD')[1]!,
    backupFrom: fromRaw === 'standby' ? 'standby' : 'primary',
    backupFromRaw: fromRaw,
    startTime: need('time', 'START TIME')[1]!,
    label: need('label', 'LABEL')[1]!,
  };
  const timeline = found.get('timeline');
  const incLsn = found.get('incrementalLsn');
  const incTli = found.get('incrementalTli');
  return {
    ...result,
    ...(timeline ? { startTimeline: Number(timeline[1]) } : {}),
    ...(incLsn ? { incrementalFromLsn: incLsn[1]! } : {}),
    ...(incTli ? { incrementalFromTimeline: Number(incTli[1]) } : {}),
  };
}
