import { BackupError } from '../errors.js';

/** Output formats of {@link copyExclusions}. */
export type ExclusionFormat = 'list' | 'rsync' | 'tar' | 'restic' | 'borg' | 'bacula' | 'json';

/** The formats, for validation and help texts. */
export const EXCLUSION_FORMATS: readonly ExclusionFormat[] = ['list', 'rsync', 'tar', 'restic', 'borg', 'bacula', 'json'];

/** One thing a copy of the data directory must leave out, and why. */
export interface CopyExclusion {
  /** Relative to the data directory. `dir/*`: the contents, keeping the directory; `**` any depth. */
  readonly pattern: string;
  /** Why PostgreSQL's own base backup leaves it out. */
  readonly why: string;
}

/** Options of {@link copyExclusions}. */
export interface CopyExclusionOptions {
  /** The server's major version: some exclusions depend on it. @default 18 */
  readonly major?: number;
  /** @default 'list' */
  readonly format?: ExclusionFormat;
  /** The data directory, absolute. restic, borg and bacula match absolute paths, so they need it. */
  readonly pgdata?: string;
}

// Directories whose contents are recreated by the server (basebackup.c excludeDirContents).
const DIR_CONTENTS = ['pg_stat_tmp', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans'];

/**
 * What a copy of the data directory must leave out (as PostgreSQL's own base backup does), for
 * the given major. Unlogged relations' non-init forks cannot be expressed as patterns; copying
 * them is harmless, as recovery resets unlogged relations from their init forks.
 */
export function copyExclusionList(major = 18): CopyExclusion[] {
  const list: CopyExclusion[] = [
    { pattern: 'postmaster.pid', why: 'the running server’s lock file' },
    { pattern: 'postmaster.opts', why: 'the running server’s command line' },
    { pattern: 'backup_label', why: 'a stray label would make recovery start at the wrong checkpoint' },
    { pattern: 'tablespace_map', why: 'comes from the summary, never from the copy' },
    { pattern: 'postgresql.auto.conf.tmp', why: 'a half-written ALTER SYSTEM file' },
    { pattern: 'current_logfiles.tmp', why: 'a temporary file of the logging collector' },
    { pattern: 'pg_wal/[0-9A-F]*', why: 'WAL comes from the archive (or the summary), never from the copy' },
    { pattern: 'pg_wal/xlogtemp.*', why: 'a WAL file being created' },
    { pattern: 'pg_wal/archive_status/*', why: 'archive state of the live server' },
  ];
  if (major >= 17) list.push({ pattern: 'pg_wal/summaries/*', why: 'WAL summaries of the live server' });
  for (const dir of DIR_CONTENTS) list.push({ pattern: `${dir}/*`, why: 'recreated by the server at start' });
  list.push({ pattern: '**/pgsql_tmp*', why: 'temporary files of running queries' });
  if (major >= 11) {
    list.push({ pattern: '**/pg_internal.init*', why: 'relation cache files, rebuilt at start' });
    list.push({ pattern: 'base/*/t[0-9]*_[0-9]*', why: 'temporary relations of live sessions' });
  }
  if (major >= 13) list.push({ pattern: 'backup_manifest', why: 'belongs to another backup' });
  list.push({ pattern: '**/.DS_Store', why: 'macOS Finder metadata' });
  return list;
}

const anywhere = (p: string): boolean => p.startsWith('**/');
const tail = (p: string): string => p.slice(3);

/**
 * A FileSet `Options` block for Bacula and Bareos. Their `Wild` is fnmatch on the absolute path
 * without FNM_PATHNAME, so `*` crosses `/` as in GNU tar: `pg_wal/archive_status/*` leaves the
 * directory and drops what is in it, and a matched directory is not descended into. The `**` ones
 * stay unanchored, so they also hold in tablespace directories listed as `File` lines.
 */
function baculaOptions(list: CopyExclusion[], root: string): string {
  const quote = (p: string): string => `"${p.replace(/["\\]/g, '\\$&')}"`;
  return [
    `# Bacula / Bareos FileSet Options: what a copy of ${root} must leave out.`,
    '# Put this block first in the FileSet\'s Include { }, before your own Options { signature = MD5 ... }:',
    '# a file that matches no pattern gets the options of the last Options block.',
    'Options {',
    '  Exclude = yes',
    ...list.map((e) => `  Wild = ${quote(anywhere(e.pattern) ? `*/${tail(e.pattern)}` : `${root}/${e.pattern}`)}`),
    '}',
  ].join('\n');
}

function render(list: CopyExclusion[], format: ExclusionFormat, pgdata: string | undefined): string {
  switch (format) {
    case 'list':
      return list.map((e) => e.pattern).join('\n');
    case 'json':
      return JSON.stringify(list, null, 2);
    case 'tar':
      // GNU tar, run as `tar -C PGDATA -cf out.tar .`; exclusions are unanchored and `*` crosses `/`.
      return list.map((e) => (anywhere(e.pattern) ? tail(e.pattern) : `./${e.pattern}`)).join('\n');
    case 'rsync': {
      // A filter file for `rsync -a --filter='merge FILE' PGDATA/ DEST/`: first match wins.
      const rules: string[] = [];
      for (const e of list) {
        if (anywhere(e.pattern)) rules.push(`- ${tail(e.pattern)}`);
        else rules.push(`- /${e.pattern}`);
      }
      return rules.join('\n');
    }
    case 'restic':
    case 'borg':
    case 'bacula': {
      if (pgdata === undefined || !pgdata.startsWith('/')) {
        throw new BackupError('INVALID_OPTION', `The ${format} format needs the data directory's absolute path (--pgdata), because ${format} matches absolute paths.`, {
          details: { option: 'pgdata' },
        });
      }
      const root = pgdata.replace(/\/+$/, '');
      if (format === 'bacula') return baculaOptions(list, root);
      if (format === 'restic') {
        return list.map((e) => (anywhere(e.pattern) ? `${root}/**/${tail(e.pattern)}` : `${root}/${e.pattern}`)).join('\n');
      }
      // borg patterns file (`--patterns-from`): shell-style, paths without the leading slash.
      const rel = root.slice(1);
      return list.map((e) => `- sh:${rel}/${e.pattern}`).join('\n');
    }
    default:
      throw new BackupError('INVALID_OPTION', `Unknown exclusion format ${String(format)} (use ${EXCLUSION_FORMATS.join(', ')}).`, { details: { option: 'format' } });
  }
}

/**
 * The copy exclusions in a backup tool's own pattern syntax, one per line (JSON for `json`).
 *
 * @example
 * ```ts
 * await writeFile('/etc/pg-backup/excludes.tar', copyExclusions({ major: 15, format: 'tar' }));
 * // tar -C "$PGDATA" -cf base.tar --exclude-from=/etc/pg-backup/excludes.tar .
 * ```
 */
export function copyExclusions(options: CopyExclusionOptions = {}): string {
  const major = options.major ?? 18;
  if (!Number.isInteger(major) || major < 10 || major > 99) {
    throw new BackupError('INVALID_OPTION', `major must be a PostgreSQL major version (10 or later), got ${String(options.major)}.`, { details: { option: 'major' } });
  }
  if (!EXCLUSION_FORMATS.includes(options.format ?? 'list')) {
    throw new BackupError('INVALID_OPTION', `Unknown exclusion format ${String(options.format)} (use ${EXCLUSION_FORMATS.join(', ')}).`, { details: { option: 'format' } });
  }
  return `${render(copyExclusionList(major), options.format ?? 'list', options.pgdata)}\n`;
}
