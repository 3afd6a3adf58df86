import { BackupError } from '../errors.js';
import { parseLsn } from './lsn.js';

const WAL_FILE_PATTERN = /^[0-9A-F]{24}$/;
const MAX_RANGE = 10_000_000;

function checkSegmentSize(segmentSize: number): bigint {
  const ok = Number.isInteger(segmentSize) && segmentSize >= 1 << 20 && segmentSize <= 1 << 30 && (segmentSize & (segmentSize - 1)) === 0;
  if (!ok) throw new BackupError('INVALID_OPTION', `WAL segment size must be a power of two from 1 MiB to 1 GiB, got ${segmentSize}.`);
  return BigInt(segmentSize);
}

function checkTimeline(timeline: number): void {
  if (!Number.isInteger(timeline) || timeline < 1 || timeline > 0xffffffff) {
    throw new BackupError('INVALID_OPTION', `Timeline must be an integer from 1 to 4294967295, got ${timeline}.`);
  }
}

const hex8 = (n: bigint | number): string => n.toString(16).toUpperCase().padStart(8, '0');

function nameOfSegment(timeline: number, segno: bigint, size: bigint): string {
  const perId = 0x100000000n / size;
  return `${hex8(timeline)}${hex8(segno / perId)}${hex8(segno % perId)}`;
}

/** True for a 24-hex-digit WAL segment file name. */
export function isWalFileName(name: string): boolean {
  return WAL_FILE_PATTERN.test(name);
}

/**
 * The WAL segment file holding `lsn`, computed client-side (`pg_walfile_name()` fails on a
 * standby and changed at segment boundaries in 17).
 * @example walFileName(1, '0/2000028', 16 * 1024 * 1024) // '000000010000000000000002'
 */
export function walFileName(timeline: number, lsn: bigint | string, segmentSize: number): string {
  checkTimeline(timeline);
  const size = checkSegmentSize(segmentSize);
  const position = typeof lsn === 'bigint' ? lsn : parseLsn(lsn);
  return nameOfSegment(timeline, position / size, size);
}

/**
 * The last segment a backup ending at `stopLsn` needs: the one holding the byte before it
 * (PostgreSQL's XLByteToPrevSeg), so a stop LSN on a segment boundary does not name a segment
 * the backup never wrote to.
 * @example stopWalFileName(1, '0/3000000', 16 * 1024 * 1024) // '000000010000000000000002'
 */
export function stopWalFileName(timeline: number, stopLsn: bigint | string, segmentSize: number): string {
  const position = typeof stopLsn === 'bigint' ? stopLsn : parseLsn(stopLsn);
  if (position === 0n) throw new BackupError('INVALID_OPTION', 'A stop LSN of 0/0 is not a valid end of backup.');
  return walFileName(timeline, position - 1n, segmentSize);
}

/** Where a WAL file sits. */
export interface WalFilePosition {
  /** The timeline. */
  readonly timeline: number;
  /** The segment number (position / segment size). */
  readonly segmentNumber: bigint;
}

/** The timeline and segment number a WAL file name stands for, given the segment size. */
export function parseWalFileName(name: string, segmentSize: number): WalFilePosition {
  if (!isWalFileName(name)) throw new BackupError('INVALID_OPTION', `Not a WAL file name: ${JSON.stringify(name)}.`);
  const size = checkSegmentSize(segmentSize);
  const perId = 0x100000000n / size;
  const low = BigInt(`0x${name.slice(16, 24)}`);
  if (low >= perId) throw new BackupError('INVALID_OPTION', `${name} is not a WAL file name for ${segmentSize}-byte segments.`);
  return { timeline: Number.parseInt(name.slice(0, 8), 16), segmentNumber: BigInt(`0x${name.slice(8, 16)}`) * perId + low };
}

/**
 * Every segment a backup needs, from the one holding `startLsn` through the stop segment.
 * @example walFileRange(1, '0/2000028', '0/3000100', 16 * 1024 * 1024) // ['…02', '…03']
 */
export function walFileRange(timeline: number, startLsn: bigint | string, stopLsn: bigint | string, segmentSize: number): string[] {
  checkTimeline(timeline);
  const size = checkSegmentSize(segmentSize);
  const first = (typeof startLsn === 'bigint' ? startLsn : parseLsn(startLsn)) / size;
  const stop = typeof stopLsn === 'bigint' ? stopLsn : parseLsn(stopLsn);
  const last = stop === 0n ? 0n : (stop - 1n) / size;
  if (last < first) return [nameOfSegment(timeline, first, size)];
  if (last - first >= BigInt(MAX_RANGE)) throw new BackupError('INVALID_OPTION', `WAL range of ${last - first + 1n} segments is implausibly large.`);
  const names: string[] = [];
  for (let segno = first; segno <= last; segno++) names.push(nameOfSegment(timeline, segno, size));
  return names;
}

/** The history file of a timeline, e.g. `00000002.history`. */
export function timelineHistoryFileName(timeline: number): string {
  checkTimeline(timeline);
  return `${hex8(timeline)}.history`;
}
