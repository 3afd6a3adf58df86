import type { BackupSummary } from '../summary/summary.js';

/** Options every sink and store call accepts. */
export interface CallOptions {
  /** Cancels the call; it then rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
}

/** Proof that a sink holds a summary. */
export interface SinkReceipt {
  /** Where the summary is, as a URL (`file:///...`, `s3://bucket/prefix/id/`). */
  readonly location: string;
  /** False when the same summary was already there and nothing was written. */
  readonly written: boolean;
}

/**
 * Where a finished backup's summary is written. `write` must be durable when it resolves and
 * write-once: writing the same summary again resolves (with `written: false`), a different
 * summary under an existing ID rejects with `ALREADY_EXISTS`.
 *
 * See `docs/writing-a-sink.md` for a worked example.
 */
export interface SummarySink {
  /** A short name for messages and receipts, e.g. `file:///var/backups/pg`. */
  readonly name: string;
  /**
   * True when `write` retries passing failures itself (the S3 store does, per request): the
   * session then calls it once instead of retrying it `sinkRetries` times more.
   * @default false
   */
  readonly retriesWrites?: boolean;
  /** Stores `summary` durably; resolves only once it is safe. */
  write(summary: BackupSummary, options?: CallOptions): Promise<SinkReceipt>;
}

/** The catalogue of summaries read back at restore time. */
export interface LabelStore {
  /** A short name for messages, e.g. `s3://bucket/prefix`. */
  readonly name: string;
  /**
   * The summary of backup `id`, checksums verified.
   * @throws BackupError `NOT_FOUND` when there is none, `CORRUPT_SUMMARY` when it fails a check.
   */
  get(id: string, options?: CallOptions): Promise<BackupSummary>;
  /** The IDs of all complete summaries, sorted. */
  list(options?: CallOptions): Promise<string[]>;
  /** Whether a complete summary for `id` exists (without verifying it). */
  has(id: string, options?: CallOptions): Promise<boolean>;
  /** Removes a summary. Optional: not every store allows it. */
  delete?(id: string, options?: CallOptions): Promise<void>;
}
