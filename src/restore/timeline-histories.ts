// Reading an archive's timeline history files: restore decides the recovery timeline from them,
// info and expire follow timelines with them.
import { gunzipSync } from 'node:zlib';
import { isBackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import { mapLimit } from '../util/map-limit.js';
import { parseTimelineHistory, type HistoryEntry } from '../summary/timeline-history.js';
import type { WalArchive } from './wal-archive.js';

// Any compression suffix counts as a history file; only gzip is read (another is reported unreadable).
const HISTORY_FILE = /^([0-9A-F]{8})\.history(\.(gz|lz4|zst|bz2|xz))?$/;

/** Whether an archive file name is a timeline history file (plain or compressed). */
export function isHistoryFileName(name: string): boolean {
  return HISTORY_FILE.test(name);
}

/**
 * Reads and parses every history file among `names` (8 at a time). A file that cannot be read or
 * parsed is `undefined` (a caller that must be safe treats that timeline as unknown); of a plain
 * and a compressed copy, the readable one counts. Only an abort rejects.
 */
export async function readTimelineHistories(archive: WalArchive, names: readonly string[], options: CallOptions = {}): Promise<Map<number, readonly HistoryEntry[] | undefined>> {
  const histories = new Map<number, readonly HistoryEntry[] | undefined>();
  await mapLimit(
    names.filter(isHistoryFileName),
    8,
    async (name) => {
      const timeline = Number.parseInt(name.slice(0, 8), 16);
      let entries: HistoryEntry[] | undefined;
      try {
        const body = archive.readFile ? await archive.readFile(name, options) : undefined;
        const text = body === undefined ? undefined : (name.endsWith('.gz') ? gunzipSync(body) : body).toString('utf8');
        entries = text === undefined ? undefined : parseTimelineHistory(text);
      } catch (error) {
        if (isBackupError(error, 'ABORTED')) throw error;
        entries = undefined;
      }
      if (entries !== undefined || !histories.has(timeline)) histories.set(timeline, entries);
    },
    options.signal,
  );
  return histories;
}
