// Pure facts about a WAL archive listing and a catalogue of summaries: no I/O. `info` reports them,
// `planExpiry` decides with them.
import { COMPRESSED_WAL_SUFFIXES, neededWalFiles } from '../restore/verify-wal.js';
import { compareLsn, formatLsn, isLsn, parseLsn } from '../summary/lsn.js';
import type { BackupSummary, SummaryOverview } from '../summary/summary.js';
import { parseWalFileName, walFileName } from '../summary/wal-file.js';
import { chooseTargetTimeline, restorableTimelines, type TimelineHistories } from '../summary/timeline-history.js';
import { timelinePathFiles } from '../summary/wal-range.js';

// History files are summary/'s (restore needs them too); exported here as before.
export { parseTimelineHistory, type HistoryEntry, type TimelineHistories } from '../summary/timeline-history.js';

/** The summary facts `info` and `expire` use, as {@link BackupSummary} documents them. */
type SummaryFacts = Pick<
  BackupSummary,
  'id' | 'startedAt' | 'stoppedAt' | 'startLsn' | 'stopLsn' | 'startWalFile' | 'stopWalFile' | 'timeline' | 'walSegmentSize' | 'serverVersion' | 'systemIdentifier' | 'backupFrom'
>;

/** One backup as `info` and `expire` see it: the summary's facts without attachment bodies. */
export interface CatalogueBackup extends SummaryFacts {
  /** It carries its own WAL (`includeWal`: attachments in `pg_wal/`) and restores with no archive. */
  readonly selfContained: boolean;
  /**
   * Bytes the summary occupies in the store: its backup_label, tablespace_map, attachments and
   * summary.json, exactly (the encoding is deterministic, so this is computed from the decoded
   * summary, with no extra request).
   */
  readonly summarySize: number;
}

/** A summary the store lists but that could not be read (checksum failure, bad JSON). */
export interface UnreadableSummary {
  /** The ID listed. */
  readonly id: string;
  /** Why (the error code and message). */
  readonly reason: string;
}

/** A file in the archive listing. */
export interface ArchiveListingFile {
  /** The file name. */
  readonly name: string;
  /** Bytes (0 when the archive cannot say). */
  readonly size: number;
  /** When it was archived, when the archive can say. */
  readonly modifiedAt?: Date;
}

/** What a file in a WAL archive is. */
export type ArchiveFileKind = 'segment' | 'partial' | 'backup-history' | 'history' | 'other';

/** A classified archive file name. */
export interface ClassifiedFile {
  /** The name as listed (with any compression suffix). */
  readonly name: string;
  /** The name without a compression suffix. */
  readonly plain: string;
  /** What the file is. */
  readonly kind: ArchiveFileKind;
  /** The timeline (every kind but `other`). */
  readonly timeline?: number;
  /** The 24-hex segment name (segment, partial, backup-history). */
  readonly segment?: string;
}

const SEGMENT = /^([0-9A-F]{8})[0-9A-F]{16}$/;
const PARTIAL = /^(([0-9A-F]{8})[0-9A-F]{16})\.partial$/;
const BACKUP_HISTORY = /^(([0-9A-F]{8})[0-9A-F]{16})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** Classifies an archive file name, looking through `.gz`/`.lz4`/`.zst`/`.bz2`/`.xz`. */
export function classifyArchiveFile(name: string): ClassifiedFile {
  const suffix = COMPRESSED_WAL_SUFFIXES.find((s) => name.endsWith(s));
  const plain = suffix ? name.slice(0, -suffix.length) : name;
  let m = SEGMENT.exec(plain);
  if (m) return { name, plain, kind: 'segment', timeline: Number.parseInt(m[1]!, 16), segment: plain };
  m = PARTIAL.exec(plain);
  if (m) return { name, plain, kind: 'partial', timeline: Number.parseInt(m[2]!, 16), segment: m[1]! };
  m = BACKUP_HISTORY.exec(plain);
  if (m) return { name, plain, kind: 'backup-history', timeline: Number.parseInt(m[2]!, 16), segment: m[1]! };
  m = HISTORY.exec(plain);
  if (m) return { name, plain, kind: 'history', timeline: Number.parseInt(m[1]!, 16) };
  return { name, plain, kind: 'other' };
}

/** What {@link reachableTimelines} found. */
export interface ReachableTimelines {
  /** Timelines reachable from (timeline, lsn) through the history files. */
  readonly reachable: Set<number>;
  /** Timelines whose history could not be read, so reachability is unknown. */
  readonly unknown: Set<number>;
}

/**
 * The timelines a recovery that starts on `timeline` at `lsn` can follow: `timeline` itself and
 * every timeline whose history says it branched off `timeline` at or after `lsn` (children,
 * grandchildren: a history file lists every ancestor). Timelines without a readable history are
 * in `unknown`: a caller that must be safe keeps them.
 */
export function reachableTimelines(timeline: number, lsn: string, histories: TimelineHistories): ReachableTimelines {
  const reachable = new Set([timeline]);
  const unknown = new Set<number>();
  const start = parseLsn(lsn);
  for (const [tli, entries] of histories) {
    if (tli <= timeline) continue;
    if (entries === undefined) {
      unknown.add(tli);
      continue;
    }
    const branch = entries.find((e) => e.parent === timeline);
    if (branch && parseLsn(branch.switchpoint) >= start) reachable.add(tli);
  }
  return { reachable, unknown };
}

/** A run of missing segments on one timeline. */
export interface SegmentGap {
  /** First missing segment. */
  readonly from: string;
  /** Last missing segment. */
  readonly to: string;
  /** How many are missing. */
  readonly count: number;
}

/** The archive's segments on one timeline. */
export interface ArchiveTimeline {
  /** The timeline. */
  readonly timeline: number;
  /** First and last segment archived (`.partial` files not counted). */
  readonly firstSegment: string;
  /** Last segment archived. */
  readonly lastSegment: string;
  /** Segments archived. */
  readonly segments: number;
  /** Bytes of every file on this timeline (segments, partials, backup history files). */
  readonly bytes: number;
  /** Holes between the first and last segment. */
  readonly gaps: readonly SegmentGap[];
  /** The history file, when archived (`00000002.history`). */
  readonly historyFile?: string;
  /** `.partial` segments (the old timeline's last segment at a promotion). */
  readonly partials: readonly string[];
}

/** A classified file of the archive with its size. */
export interface ArchivedFile extends ClassifiedFile {
  /** Bytes. */
  readonly size: number;
  /** When archived, where the archive says. */
  readonly modifiedAt?: Date;
}

/** The archive listing, classified and grouped by timeline. */
export interface ArchiveAnalysis {
  /** Every WAL file of the archive, classified, with its size and (when known) modification time. */
  readonly files: readonly ArchivedFile[];
  /** The segments per timeline. */
  readonly timelines: readonly ArchiveTimeline[];
  /** History files by timeline. */
  readonly historyFiles: ReadonlyMap<number, string>;
  /** Segment numbers present per timeline (plain segments only). */
  readonly present: ReadonlyMap<number, ReadonlySet<bigint>>;
  /** Plain names present (segments, partials, history files...). */
  readonly plainNames: ReadonlySet<string>;
  /** Files that are not WAL (left alone by expire). */
  readonly other: readonly string[];
  /** The segment size the names were read with. */
  readonly walSegmentSize: number;
}

/** Groups an archive listing by timeline, with first/last segment and gaps. One pass plus a sort per timeline. */
export function analyseArchive(files: readonly ArchiveListingFile[], walSegmentSize: number): ArchiveAnalysis {
  const classified = files.map((f) => ({ ...classifyArchiveFile(f.name), size: f.size, ...(f.modifiedAt ? { modifiedAt: f.modifiedAt } : {}) }));
  const present = new Map<number, Set<bigint>>();
  const bytes = new Map<number, number>();
  const partials = new Map<number, string[]>();
  const historyFiles = new Map<number, string>();
  const other: string[] = [];
  const plainNames = new Set<string>();
  const valid: typeof classified = [];
  for (const file of classified) {
    let kind = file.kind;
    if (kind !== 'other' && kind !== 'history') {
      try {
        const position = parseWalFileName(file.segment!, walSegmentSize);
        if (kind === 'segment') {
          let set = present.get(position.timeline);
          if (!set) present.set(position.timeline, (set = new Set()));
          set.add(position.segmentNumber);
        } else if (kind === 'partial') {
          partials.set(position.timeline, [...(partials.get(position.timeline) ?? []), file.name]);
        }
      } catch {
        kind = 'other'; // a name impossible for this segment size
      }
    }
    if (kind === 'other') {
      other.push(file.name);
      valid.push({ ...file, kind: 'other' });
      continue;
    }
    if (kind === 'history') historyFiles.set(file.timeline!, file.name);
    else bytes.set(file.timeline!, (bytes.get(file.timeline!) ?? 0) + file.size);
    plainNames.add(file.plain);
    valid.push(file);
  }
  const timelines: ArchiveTimeline[] = [];
  const allTimelines = new Set([...present.keys(), ...partials.keys(), ...historyFiles.keys()]);
  for (const tli of [...allTimelines].sort((a, b) => a - b)) {
    const segnos = [...(present.get(tli) ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const gaps: SegmentGap[] = [];
    for (let i = 1; i < segnos.length; i++) {
      const missing = segnos[i]! - segnos[i - 1]! - 1n;
      if (missing > 0n) gaps.push({ from: segmentName(tli, segnos[i - 1]! + 1n, walSegmentSize), to: segmentName(tli, segnos[i]! - 1n, walSegmentSize), count: Number(missing) });
    }
    const history = historyFiles.get(tli);
    timelines.push({
      timeline: tli,
      firstSegment: segnos.length ? segmentName(tli, segnos[0]!, walSegmentSize) : '',
      lastSegment: segnos.length ? segmentName(tli, segnos[segnos.length - 1]!, walSegmentSize) : '',
      segments: segnos.length,
      bytes: bytes.get(tli) ?? 0,
      gaps,
      ...(history !== undefined ? { historyFile: history } : {}),
      partials: partials.get(tli) ?? [],
    });
  }
  return { files: valid, timelines, historyFiles, present, plainNames, other, walSegmentSize };
}

/** The segment name of a segment number. */
export function segmentName(timeline: number, segno: bigint, walSegmentSize: number): string {
  return walFileName(timeline, segno * BigInt(walSegmentSize), walSegmentSize);
}

/** What a backup's own range looks like in the archive. */
export interface RangeCheck {
  /** True when every file the backup needs is there. */
  readonly complete: boolean;
  /** Needed files before the last archived segment of their timeline: a hole, the backup cannot be restored. */
  readonly gaps: readonly string[];
  /** Needed segments after the last archived one of their timeline: not archived yet (a backup just posted). */
  readonly pending: readonly string[];
  /** The history file of the backup's timeline, when it is needed and missing. */
  readonly missingHistory?: string;
}

/** Checks a backup's own range (as {@link neededWalFiles}) against the archive. */
export function checkBackupRange(backup: CatalogueBackup, archive: ArchiveAnalysis): RangeCheck {
  const needed = neededWalFiles(backup as unknown as BackupSummary);
  const gaps: string[] = [];
  const pending: string[] = [];
  let missingHistory: string | undefined;
  for (const name of needed) {
    if (archive.plainNames.has(name)) continue;
    if (name.endsWith('.history')) {
      missingHistory = name;
      continue;
    }
    const position = parseWalFileName(name, archive.walSegmentSize);
    const segnos = archive.present.get(position.timeline);
    const later = segnos !== undefined && [...segnos].some((s) => s > position.segmentNumber);
    (later ? gaps : pending).push(name);
  }
  return { complete: gaps.length === 0 && pending.length === 0 && missingHistory === undefined, gaps, pending, ...(missingHistory ? { missingHistory } : {}) };
}

/** Where the recoverable window ends. */
export interface WindowEnd {
  /** The timeline the last contiguous segment is on. */
  readonly timeline: number;
  /** The last contiguous segment. */
  readonly walFile: string;
  /** The end of that segment: recovery can replay up to (not beyond) here. */
  readonly lsn: string;
  /** When that segment was archived, when the archive says (an upper bound for the last transaction in it). */
  readonly archivedAt?: string;
}

/** From the earliest restorable backup to the last contiguous archived segment. */
export interface RecoverableWindow {
  /** The earliest backup that restores (WAL complete, or self-contained). */
  readonly fromBackup: string;
  /** Its consistency point: the earliest point one can recover to. */
  readonly fromLsn: string;
  /** When that backup stopped (ISO 8601). */
  readonly fromTime: string;
  /** The end of contiguous WAL from that backup on (following timeline switches in the history files). */
  readonly to: WindowEnd;
  /** The first missing segment after which archived WAL exists but cannot be replayed, when a gap cuts the window. */
  readonly cutBy?: string;
}

/**
 * The recoverable window of one cluster: from the earliest backup that restores through the last
 * segment reachable without a gap, following the newest timeline that branches off within reach
 * (as `recovery_target_timeline = latest` does). `undefined` when no backup restores.
 */
export function recoverableWindow(backups: readonly CatalogueBackup[], archive: ArchiveAnalysis, histories: TimelineHistories): RecoverableWindow | undefined {
  const restorable = backups.filter((b) => b.selfContained || checkBackupRange(b, archive).complete);
  const first = restorable[0];
  if (first === undefined) return undefined;
  const size = BigInt(archive.walSegmentSize);
  let timeline = first.timeline;
  let segno = parseWalFileName(first.stopWalFile, archive.walSegmentSize).segmentNumber;
  let cutBy: string | undefined;
  for (;;) {
    const segnos = archive.present.get(timeline) ?? new Set<bigint>();
    while (segnos.has(segno + 1n)) segno++;
    // A child timeline that branches off here at or before the end of what we can replay.
    const reach = (segno + 1n) * size;
    const children = [...histories]
      .filter(([tli, entries]) => tli > timeline && entries?.find((e) => e.parent === timeline) !== undefined)
      .map(([tli, entries]) => ({ tli, switchpoint: parseLsn(entries!.find((e) => e.parent === timeline)!.switchpoint) }))
      .filter((c) => c.switchpoint <= reach && c.switchpoint >= parseLsn(first.startLsn) && (archive.present.get(c.tli)?.has(c.switchpoint / size) ?? false))
      .sort((a, b) => b.tli - a.tli);
    const child = children[0];
    if (child) {
      timeline = child.tli;
      segno = child.switchpoint / size;
      continue;
    }
    const later = [...segnos].some((s) => s > segno + 1n);
    if (later) cutBy = segmentName(timeline, segno + 1n, archive.walSegmentSize);
    break;
  }
  const walFile = segmentName(timeline, segno, archive.walSegmentSize);
  const last = archive.files.find((f) => f.kind === 'segment' && f.plain === walFile);
  const endLsn = (segno + 1n) * size;
  return {
    fromBackup: first.id,
    fromLsn: first.stopLsn,
    fromTime: first.stoppedAt,
    to: { timeline, walFile, lsn: formatLsn(endLsn), ...(last?.modifiedAt ? { archivedAt: last.modifiedAt.toISOString() } : {}) },
    ...(cutBy ? { cutBy } : {}),
  };
}

/** The catalogue entry of a summary. */
export function catalogueEntry(summary: BackupSummary | SummaryOverview, summarySize: number): CatalogueBackup {
  return {
    id: summary.id,
    startedAt: summary.startedAt,
    stoppedAt: summary.stoppedAt,
    startLsn: summary.startLsn,
    stopLsn: summary.stopLsn,
    startWalFile: summary.startWalFile,
    stopWalFile: summary.stopWalFile,
    timeline: summary.timeline,
    walSegmentSize: summary.walSegmentSize,
    serverVersion: summary.serverVersion,
    systemIdentifier: summary.systemIdentifier,
    backupFrom: summary.backupFrom,
    selfContained: (summary.attachments ?? []).some((a) => a.name.startsWith('pg_wal/')),
    summarySize,
  };
}

/** Oldest first: by stop time, then start LSN, then ID. */
export function compareBackups(a: CatalogueBackup, b: CatalogueBackup): number {
  if (a.stoppedAt !== b.stoppedAt) return a.stoppedAt < b.stoppedAt ? -1 : 1;
  const byLsn = compareLsn(a.startLsn, b.startLsn);
  if (byLsn !== 0) return byLsn;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A timeline a backup can be restored onto, and how far the archive's WAL takes it there. */
export interface RestorableTimeline {
  /** The timeline (`recovery_target_timeline`). */
  readonly timeline: number;
  /** The end of the contiguous WAL on it: recovery onto it can replay up to (not beyond) here. */
  readonly endLsn: string;
  /** The last contiguous segment on it. */
  readonly endWalFile: string;
  /** The one restore chooses without `--target-timeline`. */
  readonly chosen: boolean;
}

/**
 * The timelines a backup can be restored onto with this archive: those whose history holds its
 * whole range and whose way there is archived (history file, segments to each switch point), each
 * with the end of its contiguous WAL. Empty when the backup's own range is not complete.
 */
export function restoreTimelines(backup: CatalogueBackup, archive: ArchiveAnalysis, histories: TimelineHistories): RestorableTimeline[] {
  if (!backup.selfContained && !checkBackupRange(backup, archive).complete) return [];
  const size = BigInt(archive.walSegmentSize);
  const paths = new Map(restorableTimelines(backup, histories).map((tli) => [tli, timelinePathFiles(backup, tli, histories)]));
  const reachable = (tli: number): boolean => (paths.get(tli) ?? timelinePathFiles(backup, tli, histories)).every((name) => archive.plainNames.has(name));
  const chosen = chooseTargetTimeline(backup, histories, Math.floor(backup.serverVersion / 10000), reachable).timeline;
  return [...paths]
    .filter(([tli]) => tli === backup.timeline || reachable(tli))
    .map(([tli, path]) => {
      let segno = path.length > 0 ? parseWalFileName(path[path.length - 1]!, archive.walSegmentSize).segmentNumber : parseWalFileName(backup.stopWalFile, archive.walSegmentSize).segmentNumber;
      const segnos = archive.present.get(tli) ?? new Set<bigint>();
      while (segnos.has(segno + 1n)) segno++;
      return { timeline: tli, endLsn: formatLsn((segno + 1n) * size), endWalFile: segmentName(tli, segno, archive.walSegmentSize), chosen: tli === chosen };
    });
}
