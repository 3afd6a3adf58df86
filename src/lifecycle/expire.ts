import { BackupError } from '../errors.js';
import type { WalArchive } from '../restore/wal-archive.js';
import type { CallOptions, LabelStore } from '../sinks/contract.js';
import { throwIfAborted } from '../util/abort.js';
import { assertDeletable, mapLimit, readArchiveListing, readCatalogue, type ArchiveListing, type Catalogue } from './catalogue.js';
import { planExpiry, type ExpiryPlan, type ExpiryPolicy, type RunningBackupStart } from './plan-expiry.js';

/** Options of {@link expire}. */
export interface ExpireOptions extends CallOptions {
  /** The store of summaries (it must have `delete`). */
  readonly store: LabelStore;
  /** The WAL archive to prune (it must have `listFiles` and `deleteFile`); without one only summaries go. */
  readonly walArchive?: WalArchive;
  /** Which backups stay. */
  readonly policy: ExpiryPolicy;
  /** Plan only: change nothing. @default false */
  readonly dryRun?: boolean;
  /** The time `keepWithinMs` counts back from. @default now */
  readonly now?: Date;
  /**
   * Backups started and not posted yet (e.g. the agent's `listRunning()`): the WAL from each one's
   * start stays, so that it restores once posted. @default none
   */
  readonly running?: readonly RunningBackupStart[];
  /** Summaries read at once. @default 16 */
  readonly concurrency?: number;
}

/** What {@link expire} did (or, with `dryRun`, would do). */
export interface ExpireReport {
  /** The store, for messages. */
  readonly store: string;
  /** The archive, for messages, when one was given. */
  readonly archive?: string;
  /** True when nothing was deleted, only planned. */
  readonly dryRun: boolean;
  /** The plan carried out. Its `wal.remove` is what was deleted (minus anything spared by the re-check below). */
  readonly plan: ExpiryPlan;
  /** Summaries removed. */
  readonly removedSummaries: readonly string[];
  /** WAL files removed. */
  readonly removedWal: readonly string[];
  /** Bytes of WAL removed. */
  readonly removedWalBytes: number;
  /**
   * Backups that appeared in the store while expire ran (a post racing it): their WAL was spared
   * by planning again with them kept.
   */
  readonly appeared: readonly string[];
  /**
   * Temp files of archive-push runs that crashed (a directory archive only; see
   * `isStaleArchiveTemp`) that were removed, or with `dryRun` would be. Never WAL; removed even
   * when the plan refuses WAL deletion, since no backup needs them.
   */
  readonly staleTempFiles: readonly string[];
}

/**
 * Applies a retention policy: plans with {@link planExpiry}, removes the summaries outside it, then
 * the WAL no kept backup needs. Summaries go first, so a crash in between leaves only extra WAL.
 * Before deleting WAL the store is listed again: a backup posted meanwhile is planned in as kept,
 * and only WAL both plans remove goes. When the plan refuses WAL deletion (`plan.wal.refused`), the
 * summaries are still removed, no WAL is touched, and the returned report says why; the CLI exits 6.
 *
 * @throws BackupError `INVALID_OPTION` (bad policy, a store or archive that cannot delete).
 */
export async function expire(options: ExpireOptions): Promise<ExpireReport> {
  const call = options.signal ? { signal: options.signal } : {};
  const dryRun = options.dryRun === true;
  if (!dryRun && !options.store.delete) throw new BackupError('INVALID_OPTION', `The store ${options.store.name} cannot delete summaries.`, { details: { option: 'store' } });
  if (!dryRun && options.walArchive) assertDeletable(options.walArchive);
  const now = options.now ?? new Date();
  const [catalogue, listing] = await Promise.all([
    readCatalogue(options.store, { ...call, ...(options.concurrency ? { concurrency: options.concurrency } : {}) }),
    options.walArchive ? readArchiveListing(options.walArchive, call) : Promise.resolve(undefined),
  ]);
  const running = options.running ?? [];
  const plan = planFrom(catalogue, listing, options.policy, now, running);
  const base = { store: catalogue.store, ...(listing ? { archive: listing.archive } : {}), dryRun, plan };
  const staleTempFiles = (await options.walArchive?.removeStaleTempFiles?.({ ...call, dryRun })) ?? [];
  if (dryRun) return { ...base, removedSummaries: [], removedWal: [], removedWalBytes: 0, appeared: [], staleTempFiles };

  const removedSummaries: string[] = [];
  for (const { id } of plan.remove) {
    throwIfAborted(options.signal);
    await options.store.delete!(id, call);
    removedSummaries.push(id);
  }
  let doomed = plan.wal?.remove ?? [];
  let appeared: string[] = [];
  if (doomed.length > 0 && listing) {
    // A post racing us: plan again with every backup now in the store kept.
    const keptIds = new Set(plan.keep.map((k) => k.id));
    appeared = (await options.store.list(call)).filter((id) => !keptIds.has(id) && !plan.remove.some((r) => r.id === id));
    if (appeared.length > 0) {
      const again = await readCatalogue(options.store, call);
      const replan = planFrom(again, listing, { keepIds: again.backups.map((b) => b.id) }, now, running);
      const still = new Set((replan.wal?.remove ?? []).map((f) => f.name));
      doomed = doomed.filter((f) => still.has(f.name));
    }
  }
  const archive = options.walArchive!;
  const removedWal: string[] = [];
  if (doomed.length > 0) {
    const names = doomed.map((f) => f.name);
    if (archive.deleteFiles) {
      for (let i = 0; i < names.length; i += 1000) {
        throwIfAborted(options.signal);
        await archive.deleteFiles(names.slice(i, i + 1000), call);
        removedWal.push(...names.slice(i, i + 1000));
      }
    } else {
      // Oldest first, in small parallel batches, so an interruption leaves a contiguous newer archive.
      for (let i = 0; i < names.length; i += 64) {
        const batch = names.slice(i, i + 64);
        await mapLimit(batch, 16, (name) => archive.deleteFile!(name, call), options.signal);
        removedWal.push(...batch);
      }
    }
  }
  const removedWalBytes = doomed.reduce((n, f) => n + f.size, 0);
  return { ...base, removedSummaries, removedWal, removedWalBytes, appeared, staleTempFiles };
}

function planFrom(catalogue: Catalogue, listing: ArchiveListing | undefined, policy: ExpiryPolicy, now: Date, running: readonly RunningBackupStart[]): ExpiryPlan {
  return planExpiry({
    backups: catalogue.backups,
    unreadable: catalogue.unreadable,
    policy,
    now,
    running,
    ...(listing ? { archive: { files: listing.files, histories: listing.histories } } : {}),
  });
}
