import { BackupError } from '../errors.js';
import type { BackupSummary } from './summary.js';
import { parseLsn } from './lsn.js';
import type { TimelineHistories } from './timeline-history.js';
import { parseWalFileName, timelineHistoryFileName, walFileName } from './wal-file.js';

/**
 * The WAL files a backup needs to restore: every segment from its start file through its stop
 * file, plus the timeline history file when the timeline is above 1.
 */
export function neededWalFiles(summary: BackupSummary): string[] {
  const start = parseWalFileName(summary.startWalFile, summary.walSegmentSize);
  const stop = parseWalFileName(summary.stopWalFile, summary.walSegmentSize);
  const needed: string[] = [];
  if (stop.timeline > 1) needed.push(timelineHistoryFileName(stop.timeline));
  if (stop.segmentNumber - start.segmentNumber > 10_000_000n) throw new BackupError('CORRUPT_SUMMARY', `Backup ${summary.id} claims an implausible WAL range.`);
  for (let segno = start.segmentNumber; segno <= stop.segmentNumber; segno++) {
    const size = BigInt(summary.walSegmentSize);
    // Before a timeline switch the segment is on the start timeline; from it on, on the stop timeline.
    const tli = segno === stop.segmentNumber ? stop.timeline : start.timeline;
    needed.push(walFileName(tli, segno * size, summary.walSegmentSize));
  }
  return needed;
}

/**
 * The WAL files a recovery of the backup reads after its own range to reach timeline `target`:
 * `target`'s history file, and the segments from the backup's stop segment to each switch point
 * along `target`'s history (at a switch the new timeline's segment holds the old one's WAL up to
 * the switch point, so from the switch segment on the new timeline's files are read), through the
 * first segment of `target`. Empty when `target` is the backup's own timeline, or its history does
 * not pass through it (the caller refuses such a timeline).
 */
export function timelinePathFiles(summary: Pick<BackupSummary, 'id' | 'stopWalFile' | 'walSegmentSize'>, target: number, histories: TimelineHistories): string[] {
  const stop = parseWalFileName(summary.stopWalFile, summary.walSegmentSize);
  const entries = histories.get(target);
  if (target === stop.timeline || entries === undefined) return [];
  const from = entries.findIndex((e) => e.parent === stop.timeline);
  if (from < 0) return [];
  const size = BigInt(summary.walSegmentSize);
  const files = [timelineHistoryFileName(target)];
  let segno = stop.segmentNumber + 1n;
  for (let i = from; i < entries.length; i++) {
    const switchSegment = parseLsn(entries[i]!.switchpoint) / size;
    if (switchSegment - segno > 10_000_000n) throw new BackupError('CORRUPT_SUMMARY', `The way from backup ${summary.id} to timeline ${target} is implausibly long.`);
    for (; segno < switchSegment; segno++) files.push(walFileName(entries[i]!.parent, segno * size, summary.walSegmentSize));
    segno = switchSegment > segno ? switchSegment : segno;
  }
  files.push(walFileName(target, segno * size, summary.walSegmentSize));
  return files;
}
