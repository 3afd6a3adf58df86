import { BackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import type { BackupSummary } from '../summary/summary.js';
import type { TargetTimeline, TimelineChoice, TimelineHistories } from '../summary/timeline-history.js';
import { chooseRecoveryTimeline } from './recovery-timeline.js';
import { readTimelineHistories } from './timeline-histories.js';
import { neededWalFiles, timelinePathFiles } from '../summary/wal-range.js';
import type { WalArchive } from './wal-archive.js';

/** Suffixes archivers commonly add when they compress a WAL file. */
export const COMPRESSED_WAL_SUFFIXES = ['.gz', '.lz4', '.zst', '.bz2', '.xz'] as const;

/** What {@link verifyWal} found. */
export interface WalVerification {
  /** The backup checked. */
  readonly id: string;
  /** True when every file the backup needs is in the archive. */
  readonly complete: boolean;
  /** Every file the backup needs, in order (history file first when there is one), then those on the way to the timeline checked. */
  readonly needed: readonly string[];
  /** The needed files the archive lacks. */
  readonly missing: readonly string[];
  /** The needed files the archive holds only compressed (`.gz`, `.zst`...): `cp` cannot restore them. */
  readonly compressedOnly: readonly string[];
  /** The archive checked. */
  readonly archive: string;
}

/** Options of {@link verifyWal}. */
export interface VerifyWalOptions extends CallOptions {
  /** WAL file names that need not be in the archive (the summary carries them, for a restore). */
  readonly carried?: readonly string[];
  /**
   * Also check the way to this timeline: its history file and the segments from the backup's end
   * to each switch point on it (see `timelinePathFiles`), with the archive's history files, as
   * restore chose them (`chooseRecoveryTimeline`). @default only the backup's own range
   */
  readonly timeline?: {
    /** The timeline recovery goes to. */
    readonly timeline: number;
    /** The archive's history files. */
    readonly histories: TimelineHistories;
  };
  /** The archive's file names, when the caller has listed it already (the archive is not listed again). */
  readonly names?: readonly string[];
}

/** The archive's names with any compression suffix taken off, and those present only compressed. */
function plainNames(names: readonly string[]): { plain: Set<string>; compressedOnly: Set<string> } {
  const plain = new Set<string>();
  const compressed = new Set<string>();
  for (const name of names) {
    const suffix = COMPRESSED_WAL_SUFFIXES.find((s) => name.endsWith(s));
    if (suffix) compressed.add(name.slice(0, -suffix.length));
    else plain.add(name);
  }
  const compressedOnly = new Set([...compressed].filter((name) => !plain.has(name)));
  for (const name of compressed) plain.add(name);
  return { plain, compressedOnly };
}

export { neededWalFiles } from '../summary/wal-range.js';

/**
 * Checks that `archive` holds every WAL file `summary` needs (accepting compressed copies).
 * Lists the archive once.
 *
 * @example
 * ```ts
 * const result = await verifyWal(summary, new FilesystemWalArchive({ directory: '/var/backups/wal' }));
 * if (!result.complete) console.error('missing:', result.missing);
 * ```
 */
export async function verifyWal(summary: BackupSummary, archive: WalArchive, options: VerifyWalOptions = {}): Promise<WalVerification> {
  const own = neededWalFiles(summary);
  const path = options.timeline === undefined ? [] : timelinePathFiles(summary, options.timeline.timeline, options.timeline.histories);
  const needed = [...own, ...path.filter((name) => !own.includes(name))];
  const { plain: present, compressedOnly } = plainNames([...(options.names ?? (await archive.listFileNames(options)))]);
  for (const name of options.carried ?? []) {
    present.add(name);
    compressedOnly.delete(name);
  }
  const missing = needed.filter((name) => !present.has(name));
  return { id: summary.id, complete: missing.length === 0, needed, missing, compressedOnly: needed.filter((name) => compressedOnly.has(name)), archive: archive.name };
}

/** Like {@link verifyWal}, but throws `WAL_INCOMPLETE` listing what is missing. */
export async function assertWalComplete(summary: BackupSummary, archive: WalArchive, options: VerifyWalOptions = {}): Promise<WalVerification> {
  const result = await verifyWal(summary, archive, options);
  if (!result.complete) {
    throw new BackupError(
      'WAL_INCOMPLETE',
      `Backup ${summary.id} cannot be restored from ${archive.name}: ${result.missing.length} of ${result.needed.length} WAL files are missing (${result.missing.slice(0, 5).join(', ')}${result.missing.length > 5 ? ', ...' : ''}).${onTheWay(summary, result, options)}`,
      { details: { id: summary.id, missing: result.missing } },
    );
  }
  return result;
}

/** Names the timeline when only files on the way to it are missing (the backup's own range is whole). */
function onTheWay(summary: BackupSummary, result: WalVerification, options: VerifyWalOptions): string {
  if (options.timeline === undefined) return '';
  const own = new Set(neededWalFiles(summary));
  if (result.missing.some((name) => own.has(name))) return '';
  return ` They are on the way to timeline ${options.timeline.timeline}, where recovery would go; the backup's own WAL is complete, so --target-timeline current (or ${summary.timeline}) restores it on timeline ${summary.timeline}.`;
}

/** Options of {@link verifyRestoreWal}. */
export interface VerifyRestoreWalOptions extends VerifyWalOptions {
  /** The timeline asked for (as restore's `targetTimeline`). @default restore's choice */
  readonly targetTimeline?: TargetTimeline;
  /** Throw `WAL_INCOMPLETE` when something is missing (as {@link assertWalComplete}). @default false */
  readonly assert?: boolean;
}

/** What {@link verifyRestoreWal} found: the WAL check and the timeline it was made for. */
export interface RestoreWalVerification extends WalVerification {
  /** The recovery timeline restore would write, and why. */
  readonly timeline: TimelineChoice;
}

/**
 * The check restore makes before it writes: lists the archive once, reads its history files,
 * chooses the recovery timeline as restore would (`chooseRecoveryTimeline`), and checks the
 * backup's own WAL and the way to that timeline.
 * @throws BackupError `TIMELINE_UNREACHABLE` for a timeline asked for that cannot hold the backup; `WAL_INCOMPLETE` with `assert`.
 */
export async function verifyRestoreWal(summary: BackupSummary, archive: WalArchive, options: VerifyRestoreWalOptions = {}): Promise<RestoreWalVerification> {
  const call = options.signal ? { signal: options.signal } : {};
  const names = options.names ?? (await archive.listFileNames(call));
  const histories = await readTimelineHistories(archive, names, call);
  const major = Math.floor(summary.serverVersion / 10000);
  const { plain } = plainNames(names);
  const reachable = (tli: number): boolean => timelinePathFiles(summary, tli, histories).every((name) => plain.has(name));
  const timeline = chooseRecoveryTimeline({ summary, major, histories, reachable, ...(options.targetTimeline !== undefined ? { asked: options.targetTimeline } : {}) });
  const check = { ...options, names, ...(timeline.timeline !== undefined ? { timeline: { timeline: timeline.timeline, histories } } : {}) };
  const result = options.assert ? await assertWalComplete(summary, archive, check) : await verifyWal(summary, archive, check);
  return { ...result, timeline };
}
