// What archive-push, archive-get and the prefetch queue share, kept free of the archive adapters and
// compression: a prefetched archive-get (one Node start per WAL file) loads only this.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BackupError } from '../errors.js';

/** A segment, a `.partial` segment, a `.backup` history file or a timeline `.history` file. */
const ARCHIVABLE_NAME = /^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

/**
 * Checks a WAL file name as PostgreSQL passes it (`%f`): a segment, `.partial`, `.backup` or `.history`.
 * @throws BackupError `INVALID_OPTION`.
 */
export function assertArchivableName(name: string): string {
  if (!ARCHIVABLE_NAME.test(name)) {
    throw new BackupError('INVALID_OPTION', `${JSON.stringify(name)} is not a WAL file name (a segment, .partial, .backup or .history file).`, { details: { name } });
  }
  return name;
}

/**
 * Writes `body` to `destination` through a temp file in the same directory and a rename: a reader
 * (PostgreSQL, after restore_command exits 0) sees the whole file or none. With `fsync`, the data
 * is on disk before the name appears, so the name survives an OS crash only with the whole file
 * (the prefetch queue outlives a crash; `%p` does not need it: PostgreSQL fetches again).
 */
export async function writeWholeFile(destination: string, body: Buffer, { fsync = false }: { readonly fsync?: boolean } = {}): Promise<void> {
  const temp = join(dirname(destination), `.${basename(destination)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(body);
      if (fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, destination);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
