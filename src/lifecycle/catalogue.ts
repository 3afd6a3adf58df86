// Reading what `info` and `expire` decide from: every summary in a store (one listing, then the
// summaries in parallel), and a WAL archive's listing with its history files.
import { BackupError, isBackupError } from '../errors.js';
import { readTimelineHistories } from '../restore/timeline-histories.js';
import { mapLimit } from '../util/map-limit.js';
import type { WalArchive } from '../restore/wal-archive.js';
import type { CallOptions, LabelStore } from '../sinks/contract.js';
import { encodeSummary } from '../summary/encoding.js';
import {
  catalogueEntry,
  compareBackups,
  type ArchiveListingFile,
  type CatalogueBackup,
  type HistoryEntry,
  type UnreadableSummary,
} from './archive-analysis.js';

/** Options of {@link readCatalogue}. */
export interface ReadCatalogueOptions extends CallOptions {
  /** Summaries read at once. @default 16 */
  readonly concurrency?: number;
}

/** Every summary of a store, oldest first, and the ones that could not be read. */
export interface Catalogue {
  /** The store, for messages. */
  readonly store: string;
  /** The summaries read, oldest first. */
  readonly backups: readonly CatalogueBackup[];
  /** The summaries that could not be read, and why. */
  readonly unreadable: readonly UnreadableSummary[];
}

// Lives in util/ (restore/ reads history files with it too); exported here as before.
export { mapLimit } from '../util/map-limit.js';

const UNREADABLE_CODES = new Set(['CORRUPT_SUMMARY', 'INVALID_OPTION', 'DECRYPTION_FAILED', 'ENCRYPTION_KEY_MISSING', 'NOT_ENCRYPTED']);

/**
 * Lists the store once and reads every summary (checksums verified). A summary that fails its
 * checks is reported in `unreadable`, not thrown; one removed between the listing and the read is
 * skipped; any other failure (the store is down) rejects.
 */
export async function readCatalogue(store: LabelStore, options: ReadCatalogueOptions = {}): Promise<Catalogue> {
  const ids = await store.list(options.signal ? { signal: options.signal } : {});
  const backups: CatalogueBackup[] = [];
  const unreadable: UnreadableSummary[] = [];
  await mapLimit(
    ids,
    options.concurrency ?? 16,
    async (id) => {
      try {
        const summary = await store.get(id, options.signal ? { signal: options.signal } : {});
        backups.push(catalogueEntry(summary, encodeSummary(summary).reduce((n, f) => n + f.body.length, 0)));
      } catch (error) {
        if (isBackupError(error, 'NOT_FOUND')) return;
        // A damaged or undecryptable summary is reported, never skipped in silence: expire then keeps all WAL.
        if (isBackupError(error) && UNREADABLE_CODES.has(error.code)) {
          unreadable.push({ id, reason: `${error.code}: ${error.message}` });
          return;
        }
        throw error;
      }
    },
    options.signal,
  );
  return { store: store.name, backups: backups.sort(compareBackups), unreadable: unreadable.sort((a, b) => (a.id < b.id ? -1 : 1)) };
}

/** A WAL archive's listing with its history files read and parsed. */
export interface ArchiveListing {
  /** The archive, for messages. */
  readonly archive: string;
  /** Every file of the archive, with its size. */
  readonly files: readonly ArchiveListingFile[];
  /** By timeline; `undefined` for a history file that could not be read or parsed. */
  readonly histories: ReadonlyMap<number, readonly HistoryEntry[] | undefined>;
  /** False when the archive gave names only (no `listFiles`): sizes are 0 and times unknown. */
  readonly sized: boolean;
}

/** Lists the archive once (with sizes and times when it can) and reads its history files. */
export async function readArchiveListing(archive: WalArchive, options: CallOptions = {}): Promise<ArchiveListing> {
  const files: ArchiveListingFile[] = archive.listFiles ? await archive.listFiles(options) : (await archive.listFileNames(options)).map((name) => ({ name, size: 0 }));
  const histories = await readTimelineHistories(archive, files.map((f) => f.name), options);
  return { archive: archive.name, files, histories, sized: archive.listFiles !== undefined };
}

/** Throws INVALID_OPTION unless the archive can delete. */
export function assertDeletable(archive: WalArchive): void {
  if (!archive.deleteFile && !archive.deleteFiles) {
    throw new BackupError('INVALID_OPTION', `The WAL archive ${archive.name} cannot delete files (it has no deleteFile).`, { details: { option: 'walArchive' } });
  }
}
