import { BackupError } from '../errors.js';
import { parseStoreUrl } from '../stores/store-url.js';

/** Options of {@link archiveGetCommand} and {@link archivePushCommand}. */
export interface ArchiveCommandLineOptions {
  /**
   * How the server's shell starts the CLI, already quoted for sh, e.g.
   * `/usr/bin/node /opt/pgsb/dist/cli/main.js`. It runs as the server's OS user with the server's
   * environment (PATH, AWS_* variables). @default 'pg-split-backup'
   */
  readonly program?: string;
  /** archive-push only: `--compress gzip`. @default 'none' */
  readonly compress?: 'none' | 'gzip' | 'zstd';
  /** archive-push only: `--async`. @default false */
  readonly async?: boolean;
  /** archive-get only: `--prefetch N` (0 = off). @default archive-get's own: 8 for s3://, 0 for directories */
  readonly prefetch?: number;
}

/** Quotes one word for sh: single quotes, a quote inside as `'\''`. */
export function quoteForShell(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A URL as PostgreSQL's %-substitution must see it: `%` doubled, so `%2F` is not taken for `%f`-like escapes. */
function archiveWord(url: string): string {
  parseStoreUrl(url); // INVALID_URL before anything is written
  return quoteForShell(url).replace(/%/g, '%%');
}

function program(options: ArchiveCommandLineOptions): string {
  const value = options.program ?? 'pg-split-backup';
  if (value.trim() === '' || /[\r\n\0]/.test(value)) throw new BackupError('INVALID_OPTION', 'program must be one line of shell.', { details: { option: 'program' } });
  // PostgreSQL expands %-escapes in the whole line; a literal % in the program must survive.
  return value.replace(/%/g, '%%');
}

/**
 * The `restore_command` that fetches WAL from `archiveUrl` with `pg-split-backup archive-get`:
 * `pg-split-backup archive-get %f %p --archive '<url>'`. The URL is quoted for sh and its `%`
 * doubled for PostgreSQL's substitution; put the line in postgresql.conf in single quotes with
 * `'` doubled (as recovery-config's `quoteConfValue` does).
 * @throws BackupError `INVALID_URL`.
 *
 * @example
 * ```ts
 * archiveGetCommand('s3://wal/prod?region=eu-west-1');
 * // "pg-split-backup archive-get %f %p --archive 's3://wal/prod?region=eu-west-1'"
 * ```
 */
export function archiveGetCommand(archiveUrl: string, options: ArchiveCommandLineOptions = {}): string {
  const prefetch = options.prefetch === undefined ? '' : ` --prefetch ${Math.trunc(options.prefetch)}`;
  return `${program(options)} archive-get %f %p --archive ${archiveWord(archiveUrl)}${prefetch}`;
}

/**
 * The `archive_command` that stores WAL in `archiveUrl` with `pg-split-backup archive-push`, quoted
 * as {@link archiveGetCommand} quotes.
 * @throws BackupError `INVALID_URL`.
 */
export function archivePushCommand(archiveUrl: string, options: ArchiveCommandLineOptions = {}): string {
  const flags = [options.compress && options.compress !== 'none' ? `--compress ${options.compress}` : '', options.async ? '--async' : ''].filter(Boolean);
  return [`${program(options)} archive-push %p --archive ${archiveWord(archiveUrl)}`, ...flags].join(' ');
}
