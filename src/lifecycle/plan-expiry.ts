// The expiry planner: a pure function from (catalogue, archive listing, policy, now) to what goes.
// `expire()` only carries the plan out, so every rule here is testable without I/O.
import { BackupError } from '../errors.js';
import { parseWalFileName } from '../summary/wal-file.js';
import {
  analyseArchive,
  checkBackupRange,
  compareBackups,
  reachableTimelines,
  type ArchiveListingFile,
  type CatalogueBackup,
  type TimelineHistories,
  type UnreadableSummary,
} from './archive-analysis.js';

/**
 * Which summaries to keep, per cluster (system identifier); the newest backup of each cluster is
 * always kept. Mirror your backup program's retention of the data copies (docs/hooks.md).
 */
export type ExpiryPolicy =
  | {
      /** Keep the N newest backups. */
      readonly keepLast: number;
    }
  | {
      /** Keep backups that stopped within this many milliseconds before `now`. */
      readonly keepWithinMs: number;
    }
  | {
      /** Keep exactly these backups (and the newest). */
      readonly keepIds: readonly string[];
    };

/** What {@link planExpiry} decides from. */
export interface ExpiryInput {
  /** Every readable summary in the store. */
  readonly backups: readonly CatalogueBackup[];
  /** Summaries the store lists but that could not be read: always kept, and no WAL is deleted. */
  readonly unreadable?: readonly UnreadableSummary[];
  /** Which backups to keep. */
  readonly policy: ExpiryPolicy;
  /** The time `keepWithinMs` counts back from. */
  readonly now: Date;
  /**
   * Backups started and not yet posted (their summary is not in the store yet): the WAL from each
   * one's start stays, as for a kept backup, so that it restores once posted. @default none
   */
  readonly running?: readonly RunningBackupStart[];
  /** The WAL archive's listing and its parsed history files; without it, only summaries are planned. */
  readonly archive?: {
    /** Every file of the archive, with its size. */
    readonly files: readonly ArchiveListingFile[];
    /** Every history file in the archive, by timeline: parsed, or `undefined` when it could not be read. */
    readonly histories: TimelineHistories;
  };
}

/** Where a backup that is still running began: the fields of the agent's `RunningBackup` that expiry needs. */
export interface RunningBackupStart {
  /** The backup ID. */
  readonly id: string;
  /** The timeline it started on. */
  readonly timeline: number;
  /** Its start LSN. */
  readonly startLsn: string;
  /** The WAL file holding its start LSN. */
  readonly startWalFile: string;
}

/** Why a summary stays. */
export type KeepReason = 'newest' | 'policy' | 'unreadable';

/** A file the plan removes. */
export interface PlannedFile {
  /** The file name in the archive. */
  readonly name: string;
  /** Bytes. */
  readonly size: number;
}

/** What happens to the WAL archive. */
export interface WalExpiryPlan {
  /** Files to delete, oldest segment first, history files last. Empty when {@link WalExpiryPlan.refused}. */
  readonly remove: readonly PlannedFile[];
  /** Bytes of {@link WalExpiryPlan.remove}. */
  readonly removeBytes: number;
  /** WAL files that stay. */
  readonly keepCount: number;
  /** Bytes that stay. */
  readonly keepBytes: number;
  /** Why no WAL is deleted at all: the catalogue and the archive disagree. Empty when WAL may go. */
  readonly refused: readonly string[];
  /** Segments kept backups need that are not archived yet (after the last archived one: a backup just posted). */
  readonly pending: readonly string[];
  /** Files in the archive that are not WAL: never touched. */
  readonly other: readonly string[];
  /** The running backups ({@link ExpiryInput.running}) whose WAL was kept from their start. */
  readonly running: readonly string[];
}

/** A summary the plan keeps. */
export interface KeptSummary {
  /** The backup ID. */
  readonly id: string;
  /** Why it is kept. */
  readonly reason: KeepReason;
}

/** A summary the plan removes. */
export interface RemovedSummary {
  /** The backup ID. */
  readonly id: string;
  /** Bytes its summary occupies in the store. */
  readonly summarySize: number;
}

/** The decision. */
export interface ExpiryPlan {
  /** Summaries that stay, oldest first. */
  readonly keep: readonly KeptSummary[];
  /** Summaries to remove, oldest first. */
  readonly remove: readonly RemovedSummary[];
  /** The WAL plan, when an archive was given. */
  readonly wal?: WalExpiryPlan;
}

function checkPolicy(policy: ExpiryPolicy): void {
  const given = ['keepLast', 'keepWithinMs', 'keepIds'].filter((k) => (policy as Record<string, unknown>)?.[k] !== undefined);
  if (given.length !== 1) throw new BackupError('INVALID_OPTION', `Give exactly one retention rule (keepLast, keepWithinMs or keepIds), got ${given.length === 0 ? 'none' : given.join(' and ')}.`, { details: { option: 'policy' } });
  if ('keepLast' in policy && (!Number.isInteger(policy.keepLast) || policy.keepLast < 1)) {
    throw new BackupError('INVALID_OPTION', `keepLast must be a whole number of at least 1, got ${String(policy.keepLast)}.`, { details: { option: 'keepLast' } });
  }
  if ('keepWithinMs' in policy && (!Number.isFinite(policy.keepWithinMs) || policy.keepWithinMs < 0)) {
    throw new BackupError('INVALID_OPTION', `keepWithinMs must be a duration of 0 or more, got ${String(policy.keepWithinMs)}.`, { details: { option: 'keepWithinMs' } });
  }
  if ('keepIds' in policy && (!Array.isArray(policy.keepIds) || policy.keepIds.length === 0)) {
    throw new BackupError('INVALID_OPTION', 'keepIds must name at least one backup.', { details: { option: 'keepIds' } });
  }
}

/**
 * Decides which summaries and WAL files an expiry removes. Pure: no I/O, the same input gives the
 * same plan.
 *
 * Summaries: the policy is applied per cluster; the newest backup of each cluster and every
 * unreadable summary stay.
 *
 * WAL, for every kept backup: its own range stays (a hole in it, or a missing history file of its
 * timeline, refuses all WAL deletion), and so does everything after its start on its timeline and
 * on every timeline that branches off it after its start (the pgBackRest rule for the oldest kept
 * backup; the newer ones' ranges are inside it unless they are on a branch). Self-contained
 * (includeWal) backups need no archive: their range is not checked, but they still anchor
 * point-in-time recovery. History files stay for every timeline kept and its ancestors. Timelines
 * newer than every kept backup's, or without a readable history, stay whole. No WAL is deleted
 * when a summary is unreadable, the store holds several clusters, or there are no backups.
 *
 * @throws BackupError `INVALID_OPTION` for a bad policy or a `keepIds` entry the store lacks.
 *
 * @example
 * ```ts
 * const plan = planExpiry({ backups, policy: { keepLast: 7 }, now: new Date(), archive: { files, histories } });
 * console.log(plan.remove.map((r) => r.id), plan.wal?.removeBytes);
 * ```
 */
export function planExpiry(input: ExpiryInput): ExpiryPlan {
  checkPolicy(input.policy);
  const policy = input.policy;
  const unreadable = input.unreadable ?? [];
  const known = new Set([...input.backups.map((b) => b.id), ...unreadable.map((u) => u.id)]);
  if ('keepIds' in policy) {
    const unknown = policy.keepIds.filter((id) => !known.has(id));
    if (unknown.length) throw new BackupError('INVALID_OPTION', `--keep names ${unknown.join(', ')}, which the store does not hold; nothing was removed.`, { details: { option: 'keep', unknown } });
  }
  const clusters = new Map<string, CatalogueBackup[]>();
  for (const backup of [...input.backups].sort(compareBackups)) {
    const list = clusters.get(backup.systemIdentifier) ?? [];
    list.push(backup);
    clusters.set(backup.systemIdentifier, list);
  }
  const reasons = new Map<string, KeepReason>();
  for (const list of clusters.values()) {
    reasons.set(list[list.length - 1]!.id, 'newest');
    list.forEach((backup, index) => {
      if (reasons.has(backup.id)) return;
      const inPolicy =
        'keepLast' in policy
          ? index >= list.length - policy.keepLast
          : 'keepWithinMs' in policy
            ? Date.parse(backup.stoppedAt) >= input.now.getTime() - policy.keepWithinMs
            : policy.keepIds.includes(backup.id);
      if (inPolicy) reasons.set(backup.id, 'policy');
    });
  }
  for (const u of unreadable) reasons.set(u.id, 'unreadable');
  const ordered = [...input.backups].sort(compareBackups);
  const keep = [...ordered.filter((b) => reasons.has(b.id)).map((b) => ({ id: b.id, reason: reasons.get(b.id)! })), ...unreadable.map((u) => ({ id: u.id, reason: 'unreadable' as const }))];
  const remove = ordered.filter((b) => !reasons.has(b.id)).map((b) => ({ id: b.id, summarySize: b.summarySize }));
  if (input.archive === undefined) return { keep, remove };
  const kept = ordered.filter((b) => reasons.has(b.id));
  return { keep, remove, wal: planWal(kept, input.running ?? [], input.backups, unreadable, clusters.size, input.archive) };
}

function planWal(
  kept: readonly CatalogueBackup[],
  running: readonly RunningBackupStart[],
  all: readonly CatalogueBackup[],
  unreadable: readonly UnreadableSummary[],
  clusterCount: number,
  archive: NonNullable<ExpiryInput['archive']>,
): WalExpiryPlan {
  const refused: string[] = [];
  const pending: string[] = [];
  for (const u of unreadable) refused.push(`the summary of ${u.id} cannot be read (${u.reason}): which WAL it needs is unknown`);
  if (all.length === 0 && unreadable.length === 0) refused.push('the store holds no backups: nothing says which WAL is needed');
  if (clusterCount > 1) refused.push(`the store holds backups of ${clusterCount} clusters (system identifiers ${[...new Set(all.map((b) => b.systemIdentifier))].join(', ')}); an archive holds one cluster's WAL, so which WAL is whose is unknown: use one store per cluster`);
  const sizes = new Set(all.map((b) => b.walSegmentSize));
  if (sizes.size > 1) refused.push(`the backups disagree on the WAL segment size (${[...sizes].join(', ')} bytes)`);
  for (const [tli, entries] of archive.histories) if (entries === undefined) refused.push(`the history file of timeline ${tli} cannot be read or parsed`);
  const walSegmentSize = all[0]?.walSegmentSize ?? 16 * 1024 * 1024;
  const analysis = analyseArchive(archive.files, walSegmentSize);
  const wal = analysis.files.filter((f) => f.kind !== 'other');
  const keepNames = new Set<string>();
  if (refused.length === 0) {
    // Timelines each kept backup protects from its start segment on.
    const protectFrom = new Map<number, bigint>();
    const protect = (tli: number, segno: bigint): void => {
      const current = protectFrom.get(tli);
      if (current === undefined || segno < current) protectFrom.set(tli, segno);
    };
    const unknownTimelines = new Set<number>();
    const keptTimelines = new Set<number>();
    for (const backup of kept) {
      if (!backup.selfContained) {
        const range = checkBackupRange(backup, analysis);
        if (range.missingHistory) refused.push(`backup ${backup.id} is on timeline ${backup.timeline}, but the archive has no ${range.missingHistory}`);
        if (range.gaps.length) refused.push(`backup ${backup.id} needs ${range.gaps.slice(0, 3).join(', ')}${range.gaps.length > 3 ? ` and ${range.gaps.length - 3} more` : ''}, missing from the archive (a gap inside a kept backup's range)`);
        pending.push(...range.pending);
      }
    }
    // Every kept backup, and every running one (whose range is not known yet), keeps everything
    // after its start on its timeline and on the timelines branching off it later.
    for (const backup of [...kept, ...running]) {
      const start = parseWalFileName(backup.startWalFile, walSegmentSize);
      for (const [tli, lsn] of [
        [start.timeline, backup.startLsn],
        [backup.timeline, backup.startLsn],
      ] as const) {
        const { reachable, unknown } = reachableTimelines(tli, lsn, archive.histories);
        for (const r of reachable) {
          protect(r, start.segmentNumber);
          keptTimelines.add(r);
        }
        for (const u of unknown) unknownTimelines.add(u);
      }
    }
    const newestTimeline = Math.max(0, ...kept.map((b) => b.timeline), ...running.map((b) => b.timeline));
    // Timelines with segments but no history file (above 1) are unknown too: keep them whole.
    for (const t of analysis.timelines) if (t.timeline > 1 && !archive.histories.has(t.timeline)) unknownTimelines.add(t.timeline);
    // Ancestors of every kept timeline keep their history files.
    const historyKept = new Set<number>(keptTimelines);
    for (const tli of [...keptTimelines, ...unknownTimelines]) for (const e of archive.histories.get(tli) ?? []) historyKept.add(e.parent);
    for (const file of wal) {
      const tli = file.timeline!;
      if (unknownTimelines.has(tli) || tli > newestTimeline) {
        keepNames.add(file.name);
        continue;
      }
      if (file.kind === 'history') {
        if (historyKept.has(tli) || unknownTimelines.has(tli)) keepNames.add(file.name);
        continue;
      }
      const from = protectFrom.get(tli);
      if (from !== undefined && parseWalFileName(file.segment!, walSegmentSize).segmentNumber >= from) keepNames.add(file.name);
    }
  }
  const removable = refused.length ? [] : wal.filter((f) => !keepNames.has(f.name));
  const order = (f: (typeof wal)[number]): [number, bigint, number] =>
    f.kind === 'history' ? [1, 0n, f.timeline!] : [0, parseWalFileName(f.segment!, walSegmentSize).segmentNumber, f.timeline!];
  removable.sort((a, b) => {
    const [ka, sa, ta] = order(a);
    const [kb, sb, tb] = order(b);
    return ka - kb || (sa < sb ? -1 : sa > sb ? 1 : 0) || ta - tb || (a.name < b.name ? -1 : 1);
  });
  const removeBytes = removable.reduce((n, f) => n + f.size, 0);
  const totalBytes = wal.reduce((n, f) => n + f.size, 0);
  return {
    remove: removable.map((f) => ({ name: f.name, size: f.size })),
    removeBytes,
    keepCount: wal.length - removable.length,
    keepBytes: totalBytes - removeBytes,
    refused,
    pending,
    other: analysis.other,
    running: running.map((b) => b.id),
  };
}
