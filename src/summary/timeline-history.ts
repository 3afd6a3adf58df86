// Timeline history files and which timelines a backup can be restored onto. Pure: no I/O.
// The rule is PostgreSQL's (xlogrecovery.c, validateRecoveryParameters / tliOfPointInHistory): a
// recovery onto timeline T starts at the backup's checkpoint, and T's history must place that point
// on the backup's own timeline. We ask a little more: the backup's whole WAL range (through its stop
// LSN) must lie before T left the backup's timeline, or recovery would switch timelines before the
// backup is consistent and never find its end.
import { isLsn, parseLsn } from './lsn.js';

/** One line of a timeline history file: the parent timeline and where the child left it. */
export interface HistoryEntry {
  /** The ancestor timeline. */
  readonly parent: number;
  /** The LSN at which the next timeline branched off `parent`. */
  readonly switchpoint: string;
}

/** Histories by timeline: parsed entries, or `undefined` for a history file that could not be read or parsed. */
export type TimelineHistories = ReadonlyMap<number, readonly HistoryEntry[] | undefined>;

/**
 * Parses a timeline history file (`parentTLI<TAB>switchpoint<TAB>reason` per line, `#` comments).
 * @returns undefined when a line is not in that form (the file cannot be trusted).
 */
export function parseTimelineHistory(text: string): HistoryEntry[] | undefined {
  const entries: HistoryEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [tli, lsn] = line.split(/\s+/);
    if (!/^\d+$/.test(tli ?? '') || !isLsn(lsn)) return undefined;
    entries.push({ parent: Number(tli), switchpoint: lsn });
  }
  return entries;
}

/** `recovery_target_timeline`: follow the newest timeline, stay on the backup's, or a number. */
export type TargetTimeline = 'latest' | 'current' | number;

/** Where a backup starts and ends, as the timeline rules need it. */
export interface BackupPosition {
  /** The backup's timeline (its stop timeline: `START TIMELINE` on a primary). */
  readonly timeline: number;
  /** Its stop LSN: recovery must replay on `timeline` at least to here. */
  readonly stopLsn: string;
}

/** Whether timeline `tli` can hold a recovery of the backup, and if not, why. */
export type Containment =
  | {
      /** It holds the backup. */
      readonly contains: true;
    }
  | {
      /** It cannot be shown to hold the backup. */
      readonly contains: false;
      /** Its history file is missing or unreadable. */
      readonly unknown: true;
    }
  | {
      /** It does not hold the backup. */
      readonly contains: false;
      /** Its history was read. */
      readonly unknown?: false;
      /** Where it left the line the backup is on. */
      readonly forkedAt?: string;
      /** The timeline it left there. */
      readonly forkedFrom?: number;
    };

/**
 * Whether a recovery onto timeline `tli` can restore the backup: `tli` is the backup's own
 * timeline, or `tli`'s history passes through the backup's timeline and leaves it at or after the
 * backup's stop LSN. `unknown` when `tli`'s history file is missing or unreadable.
 */
export function timelineContains(tli: number, backup: BackupPosition, histories: TimelineHistories): Containment {
  if (tli === backup.timeline) return { contains: true };
  if (tli < backup.timeline) return { contains: false };
  if (!histories.has(tli)) return { contains: false, unknown: true };
  const entries = histories.get(tli);
  if (entries === undefined) return { contains: false, unknown: true };
  const own = entries.find((e) => e.parent === backup.timeline);
  if (own === undefined) {
    // It branched off an ancestor of the backup's timeline: name where it left the line the backup is on.
    const last = entries[entries.length - 1];
    return last ? { contains: false, forkedAt: last.switchpoint, forkedFrom: last.parent } : { contains: false };
  }
  if (parseLsn(own.switchpoint) >= parseLsn(backup.stopLsn)) return { contains: true };
  return { contains: false, forkedAt: own.switchpoint, forkedFrom: backup.timeline };
}

/**
 * The timeline `recovery_target_timeline = 'latest'` ends on for a backup on `timeline`: PostgreSQL
 * probes the history files from the next timeline up and stops at the first one it cannot fetch
 * (findNewestTimeLine).
 */
export function latestTimeline(timeline: number, histories: TimelineHistories): number {
  let newest = timeline;
  while (histories.has(newest + 1)) newest++;
  return newest;
}

/** Every timeline of `histories` (and the backup's own) that can hold a recovery of the backup, ascending. */
export function restorableTimelines(backup: BackupPosition, histories: TimelineHistories): number[] {
  const all = [backup.timeline, ...[...histories.keys()].filter((t) => t > backup.timeline)].sort((a, b) => a - b);
  return all.filter((t) => timelineContains(t, backup, histories).contains);
}

/** What {@link chooseTargetTimeline} decided. */
export interface TimelineChoice {
  /** What `recovery_target_timeline` is set to. */
  readonly setting: TargetTimeline;
  /** The timeline recovery follows to, when the history files were read. */
  readonly timeline?: number;
  /** Whether the archive's history files were read (false with only a restore command). */
  readonly checked: boolean;
  /** Why, in one sentence, for the operator. */
  readonly reason: string;
}

/** Why a timeline asked for cannot hold the backup, or `undefined` when it can (or cannot be told). */
export function unreachableReason(tli: number, backup: BackupPosition & { readonly id: string }, histories: TimelineHistories): string | undefined {
  const c = timelineContains(tli, backup, histories);
  if (c.contains || c.unknown) return undefined;
  if (tli < backup.timeline) return `timeline ${tli} is older than the backup's timeline ${backup.timeline}`;
  if (c.forkedAt !== undefined && c.forkedFrom === backup.timeline) {
    return `timeline ${tli} left timeline ${backup.timeline} at ${c.forkedAt}, before backup ${backup.id} ends at ${backup.stopLsn}`;
  }
  if (c.forkedAt !== undefined) return `timeline ${tli} branched off timeline ${c.forkedFrom} at ${c.forkedAt} and never passes through timeline ${backup.timeline}, where backup ${backup.id} is`;
  return `timeline ${tli} does not descend from timeline ${backup.timeline}, where backup ${backup.id} is`;
}

/**
 * The default recovery timeline for a backup, from the archive's history files: `latest` when the
 * timeline PostgreSQL would follow holds the backup; otherwise the newest timeline that does
 * (`current` when that is the backup's own, written as its number before 12, which has no `current`).
 * `reachable` says whether the archive holds the WAL on the way to a timeline (its history file and
 * the segments up to it); a timeline it cannot reach is passed over. @default every timeline reachable
 */
export function chooseTargetTimeline(backup: BackupPosition, histories: TimelineHistories, major: number, reachable: (tli: number) => boolean = () => true): TimelineChoice {
  const latest = latestTimeline(backup.timeline, histories);
  const probe = timelineContains(latest, backup, histories);
  if (latest === backup.timeline) {
    return { setting: 'latest', timeline: latest, checked: true, reason: `no newer timeline than the backup's (${backup.timeline}) in the archive` };
  }
  if (probe.contains && reachable(latest)) {
    return { setting: 'latest', timeline: latest, checked: true, reason: `timeline ${latest}, the newest, branched off after the backup ends: recovery follows it` };
  }
  const candidates = restorableTimelines(backup, histories).filter((t) => t < latest && (t === backup.timeline || reachable(t)));
  const best = candidates[candidates.length - 1] ?? backup.timeline;
  const why = probe.contains
    ? `the archive lacks WAL on the way to the newest timeline ${latest}`
    : 'forkedAt' in probe && probe.forkedAt !== undefined
      ? `the newest timeline ${latest} forked off timeline ${probe.forkedFrom} at ${probe.forkedAt}, before the backup ends at ${backup.stopLsn}`
      : `the newest timeline ${latest} cannot be shown to hold the backup (its history file is missing or unreadable)`;
  const setting: TargetTimeline = best === backup.timeline && major >= 12 ? 'current' : best;
  return { setting, timeline: best, checked: true, reason: `${why}: recovery stays on timeline ${best}${best === backup.timeline ? ", the backup's own" : ''}` };
}
