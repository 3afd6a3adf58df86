// Which timeline a restore recovers onto (issue 18): asked for, or decided from the archive's
// history files, and refused when it cannot hold the backup.
import { BackupError } from '../errors.js';
import type { BackupSummary } from '../summary/summary.js';
import {
  chooseTargetTimeline,
  latestTimeline,
  timelineContains,
  unreachableReason,
  type TargetTimeline,
  type TimelineChoice,
  type TimelineHistories,
} from '../summary/timeline-history.js';
import { timelineHistoryFileName } from '../summary/wal-file.js';

/** What {@link chooseRecoveryTimeline} decides from. */
export interface RecoveryTimelineInput {
  /** The backup restored. */
  readonly summary: Pick<BackupSummary, 'id' | 'timeline' | 'stopLsn'>;
  /** The major of the copy (10-11 have no `current`). */
  readonly major: number;
  /** The timeline asked for, if any. */
  readonly asked?: TargetTimeline;
  /** The archive's history files, when the archive could be read; `undefined` with a restore command only. */
  readonly histories?: TimelineHistories;
  /** Whether the archive holds the WAL on the way to a timeline (see `chooseTargetTimeline`). @default always */
  readonly reachable?: (tli: number) => boolean;
}

/**
 * The `recovery_target_timeline` a restore writes, and why. Without `asked`: see
 * `chooseTargetTimeline` (unchecked `latest` without histories). With `asked` and the histories: a
 * timeline that cannot hold the backup is refused.
 * @throws BackupError `TIMELINE_UNREACHABLE`, naming where the timeline left the backup's.
 */
export function chooseRecoveryTimeline(input: RecoveryTimelineInput): TimelineChoice {
  const { summary, major, asked, histories } = input;
  const backup = { id: summary.id, timeline: summary.timeline, stopLsn: summary.stopLsn };
  // 10-11 have no 'current': the backup's own timeline is written as its number.
  const written = (t: TargetTimeline): TargetTimeline => (t === 'current' && major < 12 ? summary.timeline : t);
  if (histories === undefined) {
    const setting = written(asked ?? 'latest');
    return {
      setting,
      ...(setting === 'current' || setting === summary.timeline ? { timeline: summary.timeline } : {}),
      checked: false,
      reason: asked === undefined ? 'no WAL archive to read history files from: PostgreSQL follows the latest timeline, not checked against the backup' : 'as asked; not checked (no WAL archive to read history files from)',
    };
  }
  if (asked === undefined) return chooseTargetTimeline(backup, histories, major, input.reachable);
  const target = asked === 'current' ? summary.timeline : asked === 'latest' ? latestTimeline(summary.timeline, histories) : asked;
  const refuse = (why: string, details: Record<string, unknown>): never => {
    throw new BackupError('TIMELINE_UNREACHABLE', `Backup ${summary.id} cannot be recovered onto timeline ${target}${asked === 'latest' ? ' (the latest)' : ''}: ${why}. Nothing was changed. Leave --target-timeline out to let restore choose, or give a timeline that holds the backup (pg-split-backup info lists them).`, {
      details: { id: summary.id, timeline: target, ...details },
    });
  };
  if (target > summary.timeline && !histories.has(target)) refuse(`the archive has no ${timelineHistoryFileName(target)}`, { missing: timelineHistoryFileName(target) });
  const why = unreachableReason(target, backup, histories);
  if (why !== undefined) {
    const c = timelineContains(target, backup, histories);
    refuse(why, c.contains === false && !c.unknown && c.forkedAt !== undefined ? { forkedAt: c.forkedAt, forkedFrom: c.forkedFrom } : {});
  }
  if (histories.get(target) === undefined && target !== summary.timeline) refuse(`its history file ${timelineHistoryFileName(target)} cannot be read or parsed`, {});
  return { setting: written(asked), timeline: target, checked: true, reason: `as asked: timeline ${target} holds the backup` };
}
