import type { BackupSummary } from '../summary/summary.js';
import type { SinkReceipt, SummarySink } from './contract.js';
import type { SinkFailure } from './failure.js';
import { writeWithRetry } from './write-with-retry.js';

/** Options of {@link writeToSinks}. */
export interface WriteToSinksOptions {
  /** Retries per sink after the first attempt, for sinks that do not retry themselves. */
  readonly retries: number;
  /** Cancels the writes. */
  readonly signal?: AbortSignal;
  /** A failed attempt that will be retried (or was the last). */
  readonly onRetry?: (event: { sink: string; error: Error; attempt: number; retriesLeft: number }) => void;
  /** A sink holds the summary. */
  readonly onWritten?: (sink: string, receipt: SinkReceipt) => void;
}

/** What {@link writeToSinks} did: a receipt per sink that took the summary, and the failures. */
export interface SinkWrites {
  /** In the order of the sinks, undefined where the sink failed. */
  readonly receipts: readonly (SinkReceipt | undefined)[];
  /** The sinks that did not take it. */
  readonly failures: readonly SinkFailure[];
}

/**
 * Writes a summary to every sink at once: the one retry layer. A sink that retries its own
 * requests (`retriesWrites`, like the S3 store) is called once, so retries never multiply.
 */
export async function writeToSinks(summary: BackupSummary, sinks: readonly SummarySink[], options: WriteToSinksOptions): Promise<SinkWrites> {
  const results = await Promise.allSettled(
    sinks.map(async (sink) => {
      const receipt = await writeWithRetry(sink, summary, {
        retries: sink.retriesWrites === true ? 0 : options.retries,
        ...(options.signal ? { signal: options.signal } : {}),
        onFailedAttempt: ({ error, attempt, retriesLeft }) => options.onRetry?.({ sink: sink.name, error, attempt, retriesLeft }),
      });
      options.onWritten?.(sink.name, receipt);
      return receipt;
    }),
  );
  return {
    receipts: results.map((r) => (r.status === 'fulfilled' ? r.value : undefined)),
    failures: results.flatMap((r, i) => (r.status === 'rejected' ? [{ sink: sinks[i]!.name, error: r.reason as Error }] : [])),
  };
}
