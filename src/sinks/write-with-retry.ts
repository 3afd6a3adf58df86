import { isBackupError } from '../errors.js';
import type { BackupSummary } from '../summary/summary.js';
import type { SinkReceipt, SummarySink } from './contract.js';

/** How {@link writeWithRetry} retries. */
export interface WriteRetryOptions {
  /** Retries after the first attempt. */
  readonly retries: number;
  readonly signal?: AbortSignal;
  /** Called after each failed attempt that will be retried or was the last. */
  readonly onFailedAttempt?: (failure: { error: Error; attempt: number; retriesLeft: number }) => void;
}

/**
 * Writes a summary to one sink, retrying with backoff (250 ms doubling to 8 s). A conflicting
 * summary (`ALREADY_EXISTS`) or a bad ID is final: trying again cannot help.
 */
export async function writeWithRetry(sink: SummarySink, summary: BackupSummary, options: WriteRetryOptions): Promise<SinkReceipt> {
  // Loaded on first use: the CLI's start-up loads no dependency (docs/performance.md, row 2).
  const { default: pRetry, AbortError } = await import('p-retry');
  const { signal } = options;
  return pRetry(
    async () => {
      try {
        return await sink.write(summary, signal ? { signal } : {});
      } catch (error) {
        if (isBackupError(error, 'ALREADY_EXISTS') || isBackupError(error, 'INVALID_ID')) throw new AbortError(error);
        throw error;
      }
    },
    {
      retries: options.retries,
      minTimeout: 250,
      maxTimeout: 8000,
      factor: 2,
      ...(signal ? { signal } : {}),
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => options.onFailedAttempt?.({ error, attempt: attemptNumber, retriesLeft }),
    },
  );
}
