import type pg from 'pg';
import { BackupError } from '../errors.js';
import { sleep } from '../util/abort.js';
import { readArchiveProgress, type ArchiveProgress } from './archive-status.js';

/**
 * The archive wait polls quickly at first (the archiver usually needs milliseconds), at most every
 * 100 ms for the first 3 s (an archive_command that takes a second is noticed within 100 ms of
 * storing the segment; at 50 ms doubling to 1 s the gap was up to 800 ms: bench row 7), then
 * doubling to every second: 50 concurrent backups polling every 100 ms for 30 s made test/load's
 * concurrent run a third slower on 2 cores (95 s against 70 s; 77 s with 3 s).
 */
const POLL_FIRST_MS = 25;
const POLL_FAST_MAX_MS = 100;
const POLL_FAST_FOR_MS = 3_000;
const POLL_MAX_MS = 1000;

/** Options of {@link waitForArchived}. */
export interface ArchiveWaitOptions {
  /** The backup, for messages. */
  readonly id: string;
  /** The WAL file that must be archived. */
  readonly walFile: string;
  /** Whether pg_stat_file may be used (exact), else pg_stat_archiver (may lag). */
  readonly exact: boolean;
  /** Give up after this many ms with `ARCHIVE_TIMEOUT`. */
  readonly timeoutMs: number;
  /** Cancels the wait. */
  readonly signal?: AbortSignal | undefined;
  /** Each poll that found the file not archived yet. */
  readonly onWaiting?: (progress: ArchiveProgress & { readonly elapsedMs: number }) => void;
}

/** Waits until the server has archived `walFile`. @throws BackupError `ARCHIVE_TIMEOUT` */
export async function waitForArchived(client: pg.Client, options: ArchiveWaitOptions): Promise<void> {
  const began = Date.now();
  let pollMs = POLL_FIRST_MS;
  for (;;) {
    const progress = await readArchiveProgress(client, options.walFile, options.exact);
    if (progress.archived) return;
    const elapsedMs = Date.now() - began;
    options.onWaiting?.({ ...progress, elapsedMs });
    if (elapsedMs >= options.timeoutMs) {
      throw new BackupError(
        'ARCHIVE_TIMEOUT',
        `The summary of backup ${options.id} is saved, but WAL file ${options.walFile} was not archived within ` +
          `${Math.round(options.timeoutMs / 1000)} s (last archived: ${progress.lastArchivedWal ?? 'none'}, ` +
          `last failed: ${progress.lastFailedWal ?? 'none'}). The backup cannot be restored until it is: check archive_command.`,
        { details: { id: options.id, walFile: options.walFile, ...progress } },
      );
    }
    await sleep(Math.min(pollMs, options.timeoutMs - elapsedMs + 1), options.signal);
    pollMs = Math.min(pollMs * 2, elapsedMs < POLL_FAST_FOR_MS ? POLL_FAST_MAX_MS : POLL_MAX_MS);
  }
}
