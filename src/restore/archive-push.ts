import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { openObject } from '../crypto/envelope.js';
import type { EncryptionOptions } from '../crypto/keyring.js';
import { BackupError, isBackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import { throwIfAborted } from '../util/abort.js';
import { assertArchivableName } from './archive-files.js';
import { openWritableWalArchive, type WritableWalArchive } from './wal-archive.js';
import { assertWalCompression, compressWal, decompressWal, storedWalName, WAL_COMPRESSIONS, type WalCompression } from './wal-compression.js';

export { assertArchivableName } from './archive-files.js';

/** Options of {@link archivePush}. */
export interface ArchivePushOptions extends CallOptions {
  /** The archive: a URL (`file:///dir`, `/dir`, `s3://bucket/prefix?...`) or an opened archive. */
  readonly archive: string | WritableWalArchive;
  /** With a URL `archive`: client-side encryption (`EncryptionOptions`); an opened archive brings its own. */
  readonly encryption?: EncryptionOptions;
  /** Store compressed as `<name>.gz` (or `.zst` on a Node that has zstd). @default 'none' */
  readonly compress?: WalCompression;
  /** What a relative `path` is relative to. @default process.cwd() (PostgreSQL runs archive_command in the data directory) */
  readonly dataDirectory?: string;
}

/** What {@link archivePush} did. */
export interface ArchivePushResult {
  /** The WAL file name (`%f`). */
  readonly walFile: string;
  /** The name it is stored under in the archive (`<walFile>.gz` when compressed). */
  readonly storedAs: string;
  /** False when the archive held the same content already (a re-run after a crash): nothing was written. */
  readonly written: boolean;
  /** The WAL file's size. */
  readonly bytes: number;
  /** The stored size (smaller when compressed): before sealing, when the archive encrypts (a sealed 16 MiB segment is 343 bytes more). */
  readonly storedBytes: number;
  /** The archive's name. */
  readonly archive: string;
}

function failed(what: string, archive: string, error: unknown): BackupError {
  if (isBackupError(error)) return error;
  const e = error as NodeJS.ErrnoException & { name?: string };
  const why = e.code === 'ENOSPC' ? 'the disk is full' : e.code === 'ENOENT' ? 'the archive directory does not exist (create it; a missing mount point is never written to)' : (e.message ?? String(error));
  return new BackupError('ARCHIVE_FAILED', `Could not ${what} ${archive}: ${why}. Nothing partial was left; PostgreSQL keeps the WAL and retries.`, {
    cause: error,
    details: { archive, ...(e.code ? { errno: e.code } : {}) },
  });
}

/**
 * What the archive holds for `walFile` under any name archive-push writes (plain, `.gz`, `.zst`):
 * `same` when one of them decodes to `body`, `different` (with its name) when one holds other bytes.
 */
async function existingCopy(archive: WritableWalArchive, walFile: string, body: Buffer, options: CallOptions): Promise<{ same: string } | { different: string } | undefined> {
  const names = WAL_COMPRESSIONS.map((c) => [c, storedWalName(walFile, c)] as const);
  const stored = await Promise.all(names.map(([, name]) => archive.readFile(name, options)));
  for (const [i, [compression, name]] of names.entries()) {
    const raw = stored[i];
    if (raw === undefined) continue;
    // An archive opened without openWalArchive may hand over sealed bytes: not comparable, refused.
    const bytes = openObject(raw, name, undefined);
    const original = await decompressWal(bytes, compression, name).catch(() => undefined);
    if (original === undefined || !original.equals(body)) return { different: name };
    return { same: name };
  }
  return undefined;
}

function conflict(walFile: string, storedAs: string, archive: string): BackupError {
  return new BackupError(
    'WAL_CONFLICT',
    `The WAL archive ${archive} already holds ${storedAs} with other content than ${walFile}; it was left as it is. ` +
      'Two servers may be archiving into one archive (a restored copy, a promoted standby): give each its own archive, then remove or move the wrong file after checking which server wrote it.',
    { details: { walFile, storedAs, archive } },
  );
}

/**
 * archive_command: stores one WAL file in the archive, durably, write-once.
 *
 * Exit 0 from `archive_command` lets PostgreSQL recycle the segment, so this resolves only once the
 * file is stored: filesystem archives fsync a temp file, hard-link it into place (which never
 * replaces a file) and fsync the directory; S3 does a conditional create with a Content-MD5 the
 * server checks. The same name with the same content already there (PostgreSQL re-archives after a
 * crash) resolves with `written: false`; other content rejects with `WAL_CONFLICT`, and nothing is
 * overwritten. Plain, `.gz` and `.zst` copies are all compared.
 *
 * @throws BackupError `WAL_CONFLICT`, `ARCHIVE_FAILED` (store down, disk full: PostgreSQL retries),
 * `INVALID_OPTION` (not a WAL file name, unreadable file).
 *
 * @example
 * ```ts
 * // archive_command = 'node my-archiver.js %p'
 * await archivePush(process.argv[2]!, { archive: 's3://wal/prod?region=eu-west-1', compress: 'gzip' });
 * ```
 */
export async function archivePush(path: string, options: ArchivePushOptions): Promise<ArchivePushResult> {
  const walFile = assertArchivableName(basename(path));
  const compression = assertWalCompression(options.compress ?? 'none');
  throwIfAborted(options.signal);
  const archive = typeof options.archive === 'string' ? await openWritableWalArchive(options.archive, options.encryption !== undefined ? { encryption: options.encryption } : {}) : options.archive;
  const source = resolve(options.dataDirectory ?? process.cwd(), path);
  let body: Buffer;
  try {
    body = await readFile(source);
  } catch (error) {
    throw new BackupError('INVALID_OPTION', `Cannot read the WAL file ${source}: ${(error as Error).message}.`, { cause: error, details: { path: source } });
  }
  const storedAs = storedWalName(walFile, compression);
  try {
    const before = await existingCopy(archive, walFile, body, options);
    if (before && 'different' in before) throw conflict(walFile, before.different, archive.name);
    if (before) return { walFile, storedAs: before.same, written: false, bytes: body.length, storedBytes: body.length, archive: archive.name };
    const encoded = await compressWal(body, compression);
    if (await archive.createFile(storedAs, encoded, options)) {
      return { walFile, storedAs, written: true, bytes: body.length, storedBytes: encoded.length, archive: archive.name };
    }
    // Someone stored it between our look and our create: theirs stands, and must be ours.
    const after = await existingCopy(archive, walFile, body, options);
    if (after && 'same' in after) return { walFile, storedAs: after.same, written: false, bytes: body.length, storedBytes: body.length, archive: archive.name };
    throw conflict(walFile, after && 'different' in after ? after.different : storedAs, archive.name);
  } catch (error) {
    throw failed(`store ${walFile} in`, archive.name, error);
  }
}
