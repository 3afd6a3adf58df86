import { BackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import type { BackupSummary } from '../summary/summary.js';
import { neededWalFiles } from '../summary/wal-range.js';
import { parseWalFileName, timelineHistoryFileName, walFileName } from '../summary/wal-file.js';
import type { WalArchive } from './wal-archive.js';

/** Suffixes archivers commonly add when they compress a WAL file. */
export const COMPRESSED_WAL_SUFFIXES = ['.gz', '.lz4', '.zst', '.bz2', '.xz'] as const;

/** What {@link verifyWal} found. */
export interface WalVerification {
  /** The backup checked. */
  readonly id: string;
  /** True when every file the backup needs is in the archive. */
  readonly complete: boolean;
  /** Every file the backup needs, in order (history file first when there is one). */
  readonly needed: readonly string[];
  /** The needed files the archive lacks. */
  readonly missing: readonly string[];
  /** The needed files the archive holds only compressed (`.gz`, `.zst`...): `cp` cannot restore them. */
  readonly compressedOnly: readonly string[];
  /** The archive checked. */
  readonly archive: string;
}

/** Options of {@link verifyWal}. */
export interface VerifyWalOptions extends CallOptions {
  /** WAL file names that need not be in the archive (the summary carries them, for a restore). */
  readonly carried?: readonly string[];
}

/** The archive's names with any compression suffix taken off, and those present only compressed. */
function plainNames(names: string[]): { plain: Set<string>; compressedOnly: Set<string> } {
  const plain = new Set<string>();
  const compressed = new Set<string>();
  for (const name of names) {
    const suffix = COMPRESSED_WAL_SUFFIXES.find((s) => name.endsWith(s));
    if (suffix) compressed.add(name.slice(0, -suffix.length));
    else plain.add(name);
  }
  const compressedOnly = new Set([...compressed].filter((name) => !plain.has(name)));
  for (const name of compressed) plain.add(name);
  return { plain, compressedOnly };
}

export { neededWalFiles } from '../summary/wal-range.js';

/**
 * Checks that `archive` holds every WAL file `summary` needs (accepting compressed copies).
 * Lists the archive once.
 *
 * @example
 * ```ts
 * const result = await verifyWal(summary, new FilesystemWalArchive({ directory: '/var/backups/wal' }));
 * if (!result.complete) console.error('missing:', result.missing);
 * ```
 */
export async function verifyWal(summary: BackupSummary, archive: WalArchive, options: VerifyWalOptions = {}): Promise<WalVerification> {
  const needed = neededWalFiles(summary);
  const { plain: present, compressedOnly } = plainNames(await archive.listFileNames(options));
  for (const name of options.carried ?? []) {
    present.add(name);
    compressedOnly.delete(name);
  }
  const missing = needed.filter((name) => !present.has(name));
  return { id: summary.id, complete: missing.length === 0, needed, missing, compressedOnly: needed.filter((name) => compressedOnly.has(name)), archive: archive.name };
}

/** Like {@link verifyWal}, but throws `WAL_INCOMPLETE` listing what is missing. */
export async function assertWalComplete(summary: BackupSummary, archive: WalArchive, options: VerifyWalOptions = {}): Promise<WalVerification> {
  const result = await verifyWal(summary, archive, options);
  if (!result.complete) {
    throw new BackupError(
      'WAL_INCOMPLETE',
      `Backup ${summary.id} cannot be restored from ${archive.name}: ${result.missing.length} of ${result.needed.length} WAL files are missing (${result.missing.slice(0, 5).join(', ')}${result.missing.length > 5 ? ', ...' : ''}).`,
      { details: { id: summary.id, missing: result.missing } },
    );
  }
  return result;
}
