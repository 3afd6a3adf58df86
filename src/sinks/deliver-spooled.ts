import { join } from 'node:path';
import { BackupError } from '../errors.js';
import { defaultSpoolDirectory, type BackupSessionOptions } from '../session/options.js';
import { FilesystemSummaryStore } from '../stores/filesystem.js';
import type { BackupSummary } from '../summary/summary.js';
import type { SinkReceipt, SummarySink } from './contract.js';
import { writeWithRetry } from './write-with-retry.js';

/** Options of {@link deliverSpooled}. */
export interface DeliverSpooledOptions {
  /** Where the summary still has to go. At least one. */
  readonly sinks: readonly SummarySink[];
  /**
   * The spool that holds the summary.
   * @default the library default, see {@link BackupSessionOptions.spoolDirectory}
   */
  readonly spoolDirectory?: string;
  /**
   * Retries per sink after the first attempt (backoff from 250 ms doubling to 8 s).
   * @default 5
   */
  readonly retries?: number;
  /** Cancels the delivery; the spool keeps the summary. */
  readonly signal?: AbortSignal;
}

/** What {@link deliverSpooled} did. */
export interface Delivery {
  /** The delivered summary, checksums verified on the way out of the spool. */
  readonly summary: BackupSummary;
  /** One receipt per sink, in the order of `sinks`. */
  readonly receipts: readonly SinkReceipt[];
}

/**
 * Delivers a summary left in the local spool (a stop whose sinks failed, or a holder that died
 * after spooling) to every sink, then removes it from the spool. Writing is idempotent: a sink
 * that already holds the same summary counts as delivered.
 * @example
 * ```ts
 * await deliverSpooled('nightly-2026-11-25', { sinks: [new FilesystemSummaryStore({ directory: '/backup/summaries' })] });
 * ```
 * @throws BackupError `NOT_FOUND` (not in the spool), `CORRUPT_SUMMARY` (the spooled copy fails its
 * checksums), `SINK_FAILED` (a sink still refused; the spool keeps the summary, `details.spoolPath`).
 */
export async function deliverSpooled(id: string, options: DeliverSpooledOptions): Promise<Delivery> {
  if (options.sinks.length === 0) throw new BackupError('INVALID_OPTION', 'deliverSpooled needs at least one sink.', { details: { option: 'sinks' } });
  const spoolDirectory = options.spoolDirectory ?? defaultSpoolDirectory();
  const spool = new FilesystemSummaryStore({ directory: spoolDirectory });
  const spoolPath = join(spoolDirectory, id);
  if (!(await spool.has(id))) {
    throw new BackupError('NOT_FOUND', `The spool ${spoolDirectory} holds no summary of backup ${id}.`, { details: { id, spoolDirectory } });
  }
  const summary = await spool.get(id);
  const retries = options.retries ?? 5;
  const results = await Promise.allSettled(
    options.sinks.map((sink) => writeWithRetry(sink, summary, { retries, ...(options.signal ? { signal: options.signal } : {}) })),
  );
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [{ sink: options.sinks[i]!.name, error: r.reason as Error }] : []));
  if (failures.length > 0) {
    throw new BackupError(
      'SINK_FAILED',
      `The summary of backup ${id} was still not saved to ${failures.map((f) => `${f.sink} (${f.error.message})`).join(', ')}. It stays in the local spool at ${spoolPath}.`,
      { cause: failures[0]!.error, details: { id, spoolPath, failedSinks: failures.map((f) => f.sink) } },
    );
  }
  await spool.delete(id);
  return { summary, receipts: results.map((r) => (r as PromiseFulfilledResult<SinkReceipt>).value) };
}
