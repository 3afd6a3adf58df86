import { BackupError } from '../errors.js';
import type { CallOptions, LabelStore, SinkReceipt, SummarySink } from '../sinks/contract.js';
import { assertBackupId } from '../summary/backup-id.js';
import { decodeSummary, encodeSummary, SUMMARY_JSON } from '../summary/encoding.js';
import type { BackupSummary } from '../summary/summary.js';
import { throwIfAborted } from '../util/abort.js';

/** Options of {@link MemorySummaryStore}. */
export interface MemorySummaryStoreOptions {
  /** The store's name, in receipts (`<name><id>/`) and messages. @default 'memory:' */
  readonly name?: string;
}

/**
 * Summaries in memory, with the same write-once and checksum rules as the durable stores
 * (it keeps the encoded files). For tests and as a reference when writing a store.
 */
export class MemorySummaryStore implements SummarySink, LabelStore {
  /** The store's name, in receipts and messages. */
  readonly name: string;
  /** The stored files by ID and file name. Change a body to simulate corruption. */
  readonly files = new Map<string, Map<string, Buffer>>();

  /**
   * @param options The options; a plain string is the name (the older form, still accepted).
   * @example
   * ```ts
   * const store = new MemorySummaryStore({ name: 'scratch:' });
   * ```
   */
  constructor(options?: MemorySummaryStoreOptions);
  /** @deprecated Pass `{ name }` instead. */
  constructor(name: string);
  constructor(options: MemorySummaryStoreOptions | string = {}) {
    const name = typeof options === 'string' ? options : (options?.name ?? 'memory:');
    if (typeof name !== 'string') {
      throw new BackupError('INVALID_OPTION', `MemorySummaryStore's name must be a string, got ${typeof name}.`, { details: { option: 'name' } });
    }
    this.name = name;
  }

  /** Stores the summary (write-once, like the durable stores). */
  async write(summary: BackupSummary, options: CallOptions = {}): Promise<SinkReceipt> {
    assertBackupId(summary.id);
    throwIfAborted(options.signal);
    const encoded = encodeSummary(summary);
    const location = `${this.name}${summary.id}/`;
    const existing = this.files.get(summary.id);
    if (existing?.has(SUMMARY_JSON)) {
      if (encoded.every((f) => existing.get(f.name)?.equals(f.body))) return { location, written: false };
      throw new BackupError('ALREADY_EXISTS', `A different summary for backup ${summary.id} already exists in ${this.name}.`, {
        details: { id: summary.id, location },
      });
    }
    this.files.set(summary.id, new Map(encoded.map((f) => [f.name, Buffer.from(f.body)])));
    return { location, written: true };
  }

  /** The summary of `id`, checksums verified. */
  async get(id: string, options: CallOptions = {}): Promise<BackupSummary> {
    assertBackupId(id);
    throwIfAborted(options.signal);
    const files = this.files.get(id);
    return decodeSummary(id, async (name) => files?.get(name));
  }

  /** Whether a complete summary for `id` exists. */
  async has(id: string): Promise<boolean> {
    assertBackupId(id);
    return this.files.get(id)?.has(SUMMARY_JSON) ?? false;
  }

  /** IDs of complete summaries, sorted. */
  async list(): Promise<string[]> {
    return [...this.files.keys()].filter((id) => this.files.get(id)?.has(SUMMARY_JSON)).sort();
  }

  /** Removes a summary. */
  async delete(id: string): Promise<void> {
    assertBackupId(id);
    this.files.delete(id);
  }
}
