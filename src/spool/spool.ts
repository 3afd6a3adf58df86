import { homedir } from 'node:os';
import { join } from 'node:path';
import { FilesystemSummaryStore } from '../stores/filesystem.js';
import type { BackupSummary } from '../summary/summary.js';
import { mkdirPrivate, writeFileDurable } from '../util/durable-fs.js';

/** The default spool directory: `$XDG_STATE_HOME/pg-split-backup/spool`, else `~/.local/state/...`. */
export function defaultSpoolDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'pg-split-backup', 'spool');
}

/** What the server returned at stop, kept when no summary could be built from it. */
export interface RawStopOutput {
  /** The backup ID. */
  readonly id: string;
  /** The stop LSN. */
  readonly stopLsn: string;
  /** backup_label as returned. */
  readonly labelFile: string;
  /** tablespace_map as returned ('' when none). */
  readonly tablespaceMap: string;
}

/**
 * The local spool: where a stop persists its summary (fsync, atomic rename) before any sink is
 * tried, and where a summary stays until every sink has it. One summary per backup ID, in the
 * {@link FilesystemSummaryStore} layout, so a spooled summary is read back with its checksums.
 */
export class Spool {
  /** The absolute spool directory. */
  readonly directory: string;
  readonly #store: FilesystemSummaryStore;

  constructor(options: { readonly directory?: string } = {}) {
    this.#store = new FilesystemSummaryStore({ directory: options.directory ?? defaultSpoolDirectory() });
    this.directory = this.#store.directory;
  }

  /** Where the summary of `id` is (or would be) spooled. */
  pathOf(id: string): string {
    return join(this.directory, id);
  }

  /** Persists a summary durably; resolves to its path. The same summary again is a no-op. */
  async put(summary: BackupSummary): Promise<string> {
    await this.#store.write(summary);
    return this.pathOf(summary.id);
  }

  /** The spooled summary of `id`, checksums verified (`NOT_FOUND`, `CORRUPT_SUMMARY`). */
  get(id: string): Promise<BackupSummary> {
    return this.#store.get(id);
  }

  /** Whether the spool holds a complete summary of `id`. */
  has(id: string): Promise<boolean> {
    return this.#store.has(id);
  }

  /** The IDs of the spooled summaries, sorted. */
  list(): Promise<string[]> {
    return this.#store.list();
  }

  /** Removes a delivered summary. */
  remove(id: string): Promise<void> {
    return this.#store.delete(id);
  }

  /** Keeps stop's raw output beside the summaries (`.raw-stop-<id>-<ms>.json`); resolves to its path. */
  async keepRawStopOutput(raw: RawStopOutput): Promise<string> {
    const path = join(this.directory, `.raw-stop-${raw.id}-${Date.now()}.json`);
    await mkdirPrivate(this.directory);
    await writeFileDurable(path, `${JSON.stringify(raw, null, 2)}\n`);
    return path;
  }
}
