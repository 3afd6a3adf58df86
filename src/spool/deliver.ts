import { BackupError } from '../errors.js';
import type { SinkReceipt, SummarySink } from '../sinks/contract.js';
import { resendIncomplete, spooledNotDelivered } from '../sinks/failure.js';
import { writeToSinks } from '../sinks/fan-out.js';
import type { BackupSummary } from '../summary/summary.js';
import { Spool } from './spool.js';

/** Options of {@link deliverSpooled}. */
export interface DeliverSpooledOptions {
  /** Where the summary still has to go. At least one. */
  readonly sinks: readonly SummarySink[];
  /**
   * The spool that holds the summary.
   * @default the library default, see {@link defaultSpoolDirectory}
   */
  readonly spoolDirectory?: string;
  /**
   * Retries per sink after the first attempt (backoff from 250 ms doubling to 8 s); a sink that
   * retries itself (`retriesWrites`) is called once.
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
  const spool = new Spool(options.spoolDirectory === undefined ? {} : { directory: options.spoolDirectory });
  if (!(await spool.has(id))) {
    throw new BackupError('NOT_FOUND', `The spool ${spool.directory} holds no summary of backup ${id}.`, { details: { id, spoolDirectory: spool.directory } });
  }
  const summary = await spool.get(id);
  const { receipts, failures } = await writeToSinks(summary, options.sinks, { retries: options.retries ?? 5, ...(options.signal ? { signal: options.signal } : {}) });
  if (failures.length > 0) throw spooledNotDelivered(id, failures, spool.pathOf(id));
  await spool.remove(id);
  return { summary, receipts: receipts as SinkReceipt[] };
}

/** Options of {@link resendSpooled}. */
export interface ResendSpooledOptions extends DeliverSpooledOptions {
  /** Only this backup; by default every summary in the spool. */
  readonly id?: string;
}

/** One summary {@link resendSpooled} delivered. */
export interface ResentSummary {
  /** The backup ID. */
  readonly id: string;
  /** Where it is now, one location per sink. */
  readonly locations: string[];
}

/** What {@link resendSpooled} delivered. */
export interface Resent {
  /** The spool read from. */
  readonly spoolDirectory: string;
  /** Each delivered summary with the locations that now hold it. */
  readonly delivered: readonly ResentSummary[];
}

/**
 * Delivers every summary in the spool (or only `id`) to the sinks: what `pg-split-backup resend`
 * does after a reboot emptied the runtime directory. Each that is delivered leaves the spool.
 * @throws BackupError `SINK_FAILED` when any stayed (`details.delivered`, `details.failed`); with
 * `id`, whatever {@link deliverSpooled} throws.
 */
export async function resendSpooled(options: ResendSpooledOptions): Promise<Resent> {
  const spool = new Spool(options.spoolDirectory === undefined ? {} : { directory: options.spoolDirectory });
  const ids = options.id !== undefined ? [options.id] : await spool.list();
  const delivered: { id: string; locations: string[] }[] = [];
  const failed: { id: string; error: string }[] = [];
  for (const id of ids) {
    try {
      const { receipts } = await deliverSpooled(id, { ...options, spoolDirectory: spool.directory });
      delivered.push({ id, locations: receipts.map((r) => r.location) });
    } catch (error) {
      if (options.id !== undefined) throw error;
      failed.push({ id, error: (error as Error).message });
    }
  }
  if (failed.length > 0) throw resendIncomplete(spool.directory, ids.length, delivered, failed);
  return { spoolDirectory: spool.directory, delivered };
}
