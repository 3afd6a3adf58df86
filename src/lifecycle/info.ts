import type { WalArchive } from '../restore/wal-archive.js';
import type { CallOptions, LabelStore } from '../sinks/contract.js';
import {
  analyseArchive,
  checkBackupRange,
  recoverableWindow,
  restoreTimelines,
  type RestorableTimeline,
  type ArchiveTimeline,
  type CatalogueBackup,
  type RecoverableWindow,
  type UnreadableSummary,
} from './archive-analysis.js';
import { readArchiveListing, readCatalogue } from './catalogue.js';

/** Options of {@link backupInfo}. */
export interface BackupInfoOptions extends CallOptions {
  /** The store of summaries. */
  readonly store: LabelStore;
  /** The WAL archive, to check each backup's WAL and find the recoverable window. */
  readonly walArchive?: WalArchive;
  /** Summaries read at once. @default 16 */
  readonly concurrency?: number;
}

/** One backup in {@link BackupInfoReport}. */
export interface BackupInfoEntry extends CatalogueBackup {
  /** With an archive: whether every WAL file it needs is there (as `verifyWal`), and what is missing. */
  readonly wal?: {
    /** True when every WAL file it needs is there. */
    readonly complete: boolean;
    /** Missing before the archive's last segment of that timeline (a hole). */
    readonly missing: readonly string[];
    /** Missing after it: not archived yet. */
    readonly pending: readonly string[];
  };
  /**
   * With an archive: the timelines it can be restored onto (its own, and every later one that
   * branched off after it ends and whose way is archived), each with the end of its contiguous WAL;
   * `chosen` marks restore's default. Empty when its own WAL is not complete.
   */
  readonly timelines?: readonly RestorableTimeline[];
}

/** One cluster (system identifier) of a store. */
export interface ClusterInfo {
  /** The cluster's system identifier. */
  readonly systemIdentifier: string;
  /** Its backups, oldest first. */
  readonly backups: readonly BackupInfoEntry[];
  /** With an archive: from the earliest restorable backup to the last contiguous segment; `null` when no backup restores. */
  readonly window?: RecoverableWindow | null;
}

/** What {@link backupInfo} found. */
export interface BackupInfoReport {
  /** The store, for messages. */
  readonly store: string;
  /** Clusters in the store, by system identifier. */
  readonly clusters: readonly ClusterInfo[];
  /** Summaries listed but unreadable. */
  readonly unreadable: readonly UnreadableSummary[];
  /** The archive per timeline, when one was given. */
  readonly archive?: {
    /** The archive, for messages. */
    readonly name: string;
    /** The archive's segments per timeline. */
    readonly timelines: readonly ArchiveTimeline[];
    /** Total bytes of WAL files (0 when the archive cannot give sizes). */
    readonly bytes: number;
    /** Files that are not WAL. */
    readonly other: readonly string[];
  };
}

/**
 * The catalogue and what it can restore: every backup oldest first, grouped by cluster, and with
 * an archive each backup's WAL completeness, the archive per timeline (first/last segment, gaps,
 * history files) and the recoverable window. One store listing, one archive listing, the
 * summaries read in parallel.
 *
 * @example
 * ```ts
 * const report = await backupInfo({ store: await openStore(url), walArchive: await openWalArchive(walUrl) });
 * for (const c of report.clusters) console.log(c.systemIdentifier, c.window?.to.lsn);
 * ```
 */
export async function backupInfo(options: BackupInfoOptions): Promise<BackupInfoReport> {
  const call = options.signal ? { signal: options.signal } : {};
  const [catalogue, listing] = await Promise.all([
    readCatalogue(options.store, { ...call, ...(options.concurrency ? { concurrency: options.concurrency } : {}) }),
    options.walArchive ? readArchiveListing(options.walArchive, call) : Promise.resolve(undefined),
  ]);
  const bySystem = new Map<string, CatalogueBackup[]>();
  for (const b of catalogue.backups) bySystem.set(b.systemIdentifier, [...(bySystem.get(b.systemIdentifier) ?? []), b]);
  const segmentSize = catalogue.backups[0]?.walSegmentSize ?? 16 * 1024 * 1024;
  const analysis = listing ? analyseArchive(listing.files, segmentSize) : undefined;
  const clusters: ClusterInfo[] = [...bySystem].map(([systemIdentifier, backups]) => {
    if (!analysis || !listing) return { systemIdentifier, backups };
    const own = backups[0]!.walSegmentSize === segmentSize ? analysis : analyseArchive(listing.files, backups[0]!.walSegmentSize);
    const entries = backups.map((b) => {
      const timelines = restoreTimelines(b, own, listing.histories);
      if (b.selfContained) return { ...b, wal: { complete: true, missing: [], pending: [] }, timelines };
      const range = checkBackupRange(b, own);
      return { ...b, wal: { complete: range.complete, missing: [...(range.missingHistory ? [range.missingHistory] : []), ...range.gaps], pending: range.pending }, timelines };
    });
    return { systemIdentifier, backups: entries, window: recoverableWindow(backups, own, listing.histories) ?? null };
  });
  return {
    store: catalogue.store,
    clusters,
    unreadable: catalogue.unreadable,
    ...(analysis && listing
      ? { archive: { name: listing.archive, timelines: analysis.timelines, bytes: analysis.files.filter((f) => f.kind !== 'other').reduce((n, f) => n + f.size, 0), other: analysis.other } }
      : {}),
  };
}
