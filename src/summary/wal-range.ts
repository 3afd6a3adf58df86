import { BackupError } from '../errors.js';
import type { BackupSummary } from './summary.js';
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
