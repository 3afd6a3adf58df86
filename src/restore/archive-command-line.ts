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
  /**
   * archive-push `--async` only: `--spool-dir DIR` (relative to the data directory, or absolute);
   * the shell fast path looks there too. @default 'pg_wal/pgsb-archive-push'
   */
  readonly spoolDirectory?: string;
  /** archive-push `--async` only: `--idle <ms>ms`, how long a pusher the line starts stays after its last segment. @default archive-push's own: 2000 */
  readonly pusherIdleMs?: number;
  /** `--encryption-key-file PATH` for each (paths, never keys; the server's OS user must be able to read them, mode 0600). */
  readonly encryptionKeyFiles?: readonly string[];
  /** `--require-encryption`. @default false */
  readonly requireEncrypted?: boolean;
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

/** The encryption flags of a command line: each path quoted for sh, `%` doubled. */
function encryptionFlags(options: ArchiveCommandLineOptions): string {
  const files = (options.encryptionKeyFiles ?? []).map((file) => {
    if (file === '' || /[\r\n\0]/.test(file)) throw new BackupError('INVALID_OPTION', 'A key file path must be one line.', { details: { option: 'encryptionKeyFiles' } });
    return ` --encryption-key-file ${quoteForShell(file).replace(/%/g, '%%')}`;
  });
  return files.join('') + (options.requireEncrypted === true ? ' --require-encryption' : '');
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
 * `'` doubled (as recovery-config's `quoteConfValue` does). When archive-get prefetches (an `s3://`
 * archive, or `prefetch` >= 1), the line starts with a shell test and `mv` of `pg_wal/pgsb-prefetch/%f`: a queued segment is a
 * shell `mv`, not a Node start; so is a segment the prefetcher is downloading (the shell waits for it
 * while `pg_wal/pgsb-prefetch/%f.fetching` is valid), and a miss the running prefetcher has just seen
 * (`pg_wal/pgsb-prefetch/%f.missing`, valid until its mtime: exit 1, as archive-get's `WAL_NOT_FOUND`).
 * @throws BackupError `INVALID_URL`.
 *
 * @example
 * ```ts
 * archiveGetCommand('/var/backups/wal');
 * // 'pg-split-backup archive-get %f %p --archive /var/backups/wal'
 * archiveGetCommand('s3://wal/prod?region=eu-west-1');
 * // `q=pg_wal/pgsb-prefetch/%f n=…; { [ -f $q.fetching ] && { while … do sleep 0.02 || break; done; …; }; [ -f $q ] && mv -f $q "%p" 2>/dev/null; } || { [ -f $q.missing ] && … exit 1; … } || pg-split-backup archive-get %f %p --archive 's3://wal/prod?region=eu-west-1'`
 * ```
 */
export function archiveGetCommand(archiveUrl: string, options: ArchiveCommandLineOptions = {}): string {
  const prefetch = options.prefetch === undefined ? '' : ` --prefetch ${Math.trunc(options.prefetch)}`;
  const line = `${program(options)} archive-get %f %p --archive ${archiveWord(archiveUrl)}${prefetch}${encryptionFlags(options)}`;
  const prefetches = options.prefetch === undefined ? parseStoreUrl(archiveUrl).kind === 's3' : options.prefetch >= 1;
  return prefetches ? `${NAMES}; { ${IN_FLIGHT_WAIT}; ${QUEUE_HIT}; } || ${KNOWN_MISS} || ${line}` : line;
}

/**
 * The shell parts' names: `$q` is the queued file, `$n` the shell's clock file. PostgreSQL 10-12
 * cut restore_command at 1023 bytes (xlogarchive.c's `xlogRestoreCmd[MAXPGPATH]`), so the parts
 * name the queue once; `%f` is a WAL file name (no blanks or quotes), safe unquoted.
 */
const NAMES = 'q=pg_wal/pgsb-prefetch/%f n=pg_wal/pgsb-prefetch/.now.$$';

/**
 * A segment the prefetcher is downloading right now: recovery often asks for it a moment before it
 * lands. The prefetcher leaves `%f.fetching` while it looks and downloads, its mtime set to the
 * look's start plus a few seconds; while that marker is there and younger than now, and the file is
 * not queued, the shell looks again every 20 ms, so the file is then taken by {@link QUEUE_HIT}
 * (or answered by {@link KNOWN_MISS}) rather than by a Node start that would wait for the same
 * download. The prefetcher takes the marker away after it queued the file or left `%f.missing`;
 * the marker of one that died expires by itself. A `sleep` that takes no fraction ends the wait.
 */
const IN_FLIGHT_WAIT = '[ -f $q.fetching ] && { while [ ! -f $q ] && [ -f $q.fetching ] && : > $n && [ $q.fetching -nt $n ]; do sleep 0.02 || break; done; rm -f $n; }';

/**
 * A segment the prefetcher has queued, taken without starting Node: PostgreSQL runs restore_command
 * in the data directory, the queue is `pg_wal/pgsb-prefetch` (archive-get's default) on the file
 * system of `%p`, so `mv` is a rename (whole or nothing), and a queued file is whole and fsynced
 * before its name appears. Anything else (not queued, taken meanwhile) falls through to archive-get.
 */
const QUEUE_HIT = '[ -f $q ] && mv -f $q "%p" 2>/dev/null';

/**
 * A miss answered without starting Node (exit 1: "no such file", as archive-get's `WAL_NOT_FOUND`).
 * The running prefetcher leaves `%f.missing` when a look at the archive found nothing, its mtime
 * set to that look's start plus a few seconds: the answer's expiry. The shell compares it with a
 * file it makes now (`test -nt`: nanoseconds in dash and bash; a shell or file system with whole
 * seconds only shortens the validity), so a marker of a prefetcher that died or hangs stops
 * answering by itself, and a segment archived since is at most that old news (the prefetcher
 * removes the marker when it finds the file). Anything else falls through to archive-get.
 */
const KNOWN_MISS = '{ [ -f $q.missing ] && : > $n && if [ $q.missing -nt $n ]; then rm -f $n; exit 1; fi; rm -f $n; false; }';

/**
 * The `archive_command` that stores WAL in `archiveUrl` with `pg-split-backup archive-push`, quoted
 * as {@link archiveGetCommand} quotes. With `async`, the line starts with a shell test that answers
 * without starting Node when the background pusher has already stored this very file: the pusher
 * leaves `<spool>/<segment>.stored`, a hard link to the segment it stored, and
 * `[ <spool>/%f.stored -ef "%p" ]` (same device and inode; POSIX `test`, dash and bash) is true
 * only for that file. While a pusher runs (`<spool>/pusher.lock`), the shell looks again every
 * 50 ms for up to a second, since PostgreSQL asks as soon as the segment is ready. Anything else
 * (no pusher, not stored within the second, another file under that name) falls through to
 * archive-push, which waits for the pusher or starts one.
 * @throws BackupError `INVALID_URL`, `INVALID_OPTION`.
 *
 * @example
 * ```ts
 * archivePushCommand('/var/backups/wal', { async: true });
 * // '[ pg_wal/pgsb-archive-push/%f.stored -ef "%p" ] || { [ -f pg_wal/pgsb-archive-push/pusher.lock ] && for i in 1 2 … 20; do sleep 0.05; [ … ] && exit 0; done; false; } || pg-split-backup archive-push %p --archive /var/backups/wal --async'
 * ```
 */
export function archivePushCommand(archiveUrl: string, options: ArchiveCommandLineOptions = {}): string {
  const spool = options.spoolDirectory;
  if (spool !== undefined && (spool === '' || /[\r\n\0]/.test(spool))) throw new BackupError('INVALID_OPTION', 'spoolDirectory must be one line.', { details: { option: 'spoolDirectory' } });
  if (spool !== undefined && options.async !== true) throw new BackupError('INVALID_OPTION', 'spoolDirectory goes with async.', { details: { option: 'spoolDirectory' } });
  const idle = options.pusherIdleMs;
  if (idle !== undefined && (!Number.isInteger(idle) || idle < 1)) throw new BackupError('INVALID_OPTION', `pusherIdleMs must be a positive integer, got ${String(idle)}.`, { details: { option: 'pusherIdleMs' } });
  if (idle !== undefined && options.async !== true) throw new BackupError('INVALID_OPTION', 'pusherIdleMs goes with async.', { details: { option: 'pusherIdleMs' } });
  const flags = [
    options.compress && options.compress !== 'none' ? `--compress ${options.compress}` : '',
    options.async ? '--async' : '',
    spool !== undefined ? `--spool-dir ${percentSafe(quoteForShell(spool))}` : '',
    idle !== undefined ? `--idle ${idle}ms` : '',
  ].filter(Boolean);
  const line = [`${program(options)} archive-push %p --archive ${archiveWord(archiveUrl)}${encryptionFlags(options)}`, ...flags].join(' ');
  if (options.async !== true) return line;
  // The pusher has stored this very file (the marker is a hard link to it): answered by the shell.
  // PostgreSQL asks as soon as a segment is ready, when a running pusher has only just begun on
  // it: while one runs (its lock is there), the shell waits up to a second for the marker before
  // starting Node (a `sleep` that takes no fraction only makes that wait short).
  const dir = percentSafe(quoteForShell(`${spool ?? 'pg_wal/pgsb-archive-push'}/`));
  const hit = `[ ${dir}%f.stored -ef "%p" ]`;
  const wait = `{ [ -f ${dir}pusher.lock ] && for i in ${Array.from({ length: FAST_PATH_WAITS }, (_, i) => i + 1).join(' ')}; do sleep 0.05; ${hit} && exit 0; done; false; }`;
  return `${hit} || ${wait} || ${line}`;
}

/** How many 50 ms looks the shell takes for the marker while a pusher runs: a second. */
const FAST_PATH_WAITS = 20;

/** A word as PostgreSQL's %-substitution must see it: a literal `%` doubled. */
function percentSafe(word: string): string {
  return word.replace(/%/g, '%%');
}
