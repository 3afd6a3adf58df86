import { BackupError } from '../errors.js';

/** Longest accepted backup ID. The server allows 1024 bytes; 200 keeps paths and keys short. */
export const MAX_BACKUP_ID_LENGTH = 200;

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Why `id` is not a valid backup ID, or `undefined` when it is.
 * The ID is the backup label, a directory name and an S3 key part, so it must be
 * 1-200 chars of `[A-Za-z0-9._-]`, not start with `.` or `-`, and hold no `..`.
 */
export function backupIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return 'it must be a string';
  if (id.length === 0) return 'it is empty';
  if (id.length > MAX_BACKUP_ID_LENGTH) return `it is ${id.length} characters long (at most ${MAX_BACKUP_ID_LENGTH})`;
  if (id.startsWith('.') || id.startsWith('-')) return 'it must not start with "." or "-"';
  if (!ID_PATTERN.test(id)) return 'only letters A-Z a-z, digits, ".", "_" and "-" are allowed';
  if (id.includes('..')) return 'it must not contain ".."';
  return undefined;
}

/** True when `id` is a valid backup ID (see {@link assertBackupId}). */
export function isValidBackupId(id: unknown): id is string {
  return backupIdProblem(id) === undefined;
}

/**
 * Throws `INVALID_ID` unless `id` is a valid backup ID.
 *
 * @example
 * ```ts
 * assertBackupId('nightly-2026-11-25'); // ok
 * assertBackupId('../etc');             // throws BackupError { code: 'INVALID_ID' }
 * ```
 */
export function assertBackupId(id: unknown): asserts id is string {
  const problem = backupIdProblem(id);
  if (problem !== undefined) {
    const shown = typeof id === 'string' ? JSON.stringify(id.length > 60 ? `${id.slice(0, 60)}...` : id) : String(id);
    throw new BackupError('INVALID_ID', `Invalid backup ID ${shown}: ${problem}.`, { details: { problem } });
  }
}
