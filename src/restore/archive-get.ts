import { resolve } from 'node:path';
import { openObject } from '../crypto/envelope.js';
import type { EncryptionOptions } from '../crypto/keyring.js';
import { BackupError, isBackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import { throwIfAborted } from '../util/abort.js';
import { assertArchivableName, writeWholeFile } from './archive-files.js';
import { openWritableWalArchive, type WritableWalArchive } from './wal-archive.js';
import { decompressWal, storedWalName, WAL_COMPRESSIONS, type WalCompression } from './wal-compression.js';

/** Options of {@link archiveGet}. */
export interface ArchiveGetOptions extends CallOptions {
  /** The archive: a URL (`file:///dir`, `/dir`, `s3://bucket/prefix?...`) or an opened archive. */
  readonly archive: string | WritableWalArchive;
  /** With a URL `archive`: client-side encryption (`EncryptionOptions`); an opened archive brings its own. */
  readonly encryption?: EncryptionOptions;
  /** What a relative `destination` is relative to. @default process.cwd() (PostgreSQL runs restore_command in the data directory) */
  readonly dataDirectory?: string;
}

/** What {@link archiveGet} fetched. */
export interface ArchiveGetResult {
  /** The WAL file name asked for (%f). */
  readonly walFile: string;
  /** The name it was stored under (`<walFile>.gz` when compressed). */
  readonly storedAs: string;
  /** Where it was written (absolute). */
  readonly destination: string;
  /** Its size after decompression. */
  readonly bytes: number;
}

/** The stored copy of `walFile` under any name archive-push writes, or `undefined`. */
export async function findStoredWal(archive: WritableWalArchive, walFile: string, options: CallOptions = {}): Promise<{ storedAs: string; compression: WalCompression; body: Buffer } | undefined> {
  for (const compression of WAL_COMPRESSIONS) {
    const storedAs = storedWalName(walFile, compression);
    const stored = await archive.readFile(storedAs, options);
    // An archive opened without openWalArchive may hand over sealed bytes: never taken for WAL.
    if (stored !== undefined) return { storedAs, compression, body: openObject(stored, storedAs, undefined) };
  }
  return undefined;
}

export { writeWholeFile } from './archive-files.js';

/**
 * restore_command: fetches one WAL file from the archive to `destination` (`%p`), decompressing
 * `.gz` / `.zst` copies. The file appears whole or not at all (temp file + rename).
 *
 * @throws BackupError `WAL_NOT_FOUND` when the archive has no such file (PostgreSQL asks for files
 * that do not exist, such as the next timeline's history: the CLI exits 1), `ARCHIVE_FAILED` when
 * the archive cannot be read or the file is damaged.
 *
 * @example
 * ```ts
 * await archiveGet('000000010000000000000003', 'pg_wal/RECOVERYXLOG', { archive: '/var/backups/wal' });
 * ```
 */
export async function archiveGet(walFile: string, destination: string, options: ArchiveGetOptions): Promise<ArchiveGetResult> {
  assertArchivableName(walFile);
  throwIfAborted(options.signal);
  const archive = typeof options.archive === 'string' ? await openWritableWalArchive(options.archive, options.encryption !== undefined ? { encryption: options.encryption } : {}) : options.archive;
  const target = resolve(options.dataDirectory ?? process.cwd(), destination);
  try {
    const found = await findStoredWal(archive, walFile, options);
    if (found === undefined) {
      throw new BackupError('WAL_NOT_FOUND', `${walFile} is not in the WAL archive ${archive.name}.`, { details: { walFile, archive: archive.name } });
    }
    const body = await decompressWal(found.body, found.compression, found.storedAs);
    await writeWholeFile(target, body);
    return { walFile, storedAs: found.storedAs, destination: target, bytes: body.length };
  } catch (error) {
    if (isBackupError(error)) throw error;
    throw new BackupError('ARCHIVE_FAILED', `Could not fetch ${walFile} from ${archive.name} to ${target}: ${(error as Error).message}.`, {
      cause: error,
      details: { walFile, archive: archive.name },
    });
  }
}
