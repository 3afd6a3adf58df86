import { assertWalComplete, BackupError, copyExclusions, EXCLUSION_FORMATS, type ExclusionFormat, openStore, openWalArchive, prepareRestore, type RecoveryTarget, type RecoveryTargetAction } from '../index.js';
import { RECOVERY_TARGET_OPTIONS, recoveryTargetFlags } from './restore-flags.js';
import { COMMON_OPTIONS, lines, required, requiredId, strings, text, type Command, type Values } from './command-kit.js';

function list(label: string, items: readonly string[], most = 6): string | undefined {
  if (items.length === 0) return undefined;
  return `${label}${items.length > most ? `${items.slice(0, most).join(', ')} and ${items.length - most} more` : items.join(', ')}`;
}

function tablespaceMapping(values: Values): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const pair of strings(values, 'tablespace-mapping')) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1 || !pair.startsWith('/') || pair[eq + 1] !== '/') {
      throw new BackupError('INVALID_OPTION', `--tablespace-mapping takes OLD=NEW with two absolute paths, got ${pair}.`, { details: { option: 'tablespace-mapping' } });
    }
    mapping[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return mapping;
}

const restore: Command = {
  name: 'restore',
  summary: 'put a backup’s summary into its restored data copy, ready to start',
  usage:
    'pg-split-backup restore --id ID --store URL --pgdata DIR [--restore-command CMD | --wal-archive URL [--no-verify]] [--target-time T | --target-lsn L | --target-name N | --target-xid X | --target immediate] [--target-action promote|pause|shutdown] [--standby] [--tablespace-mapping OLD=NEW]... [--json]',
  details: `Checks that the data directory (restored by your backup program, server stopped) is the copy of
backup ID: same major and system identifier, its pg_control checkpoint inside the backup's window
(else it is another backup's copy), no server running on it, no other backup's label, nothing but
WAL in pg_wal, every tablespace's data present, a valid target, and (with --wal-archive) every WAL
file the backup needs in the archive. Then it installs backup_label and tablespace_map from the
summary, empties pg_wal, moves tablespace data a dereferencing copy holds in pg_tblspc/ to its
(empty) location, removes a postmaster.pid that is not a live server's, and writes the recovery
configuration (recovery.signal + postgresql.auto.conf on 12+, recovery.conf on 10-11). Everything
it writes, moves or removes is listed. Nothing is changed when a check fails (exit 2; exit 5 when
WAL is missing). Running it twice gives the same directory. A backup taken with --include-wal
restores with no archive at all. See docs/restore.md.

  --id ID                     the backup ID (its label)
  --store URL                 where its summary is: file:///abs/dir, /abs/dir or s3://bucket/prefix[?...]
  --pgdata DIR                the restored data directory (absolute)
  --restore-command CMD       restore_command for recovery (must fail for a file it does not have)
  --wal-archive URL           the WAL archive (/dir, file:///dir or s3://bucket/prefix[?...]): restore
                              first checks it holds the backup's WAL (exit 5 if not), then writes a
                              restore_command: cp for a directory of plain WAL, else archive-get
                              (pg-split-backup must be on the server user's PATH)
  --no-verify                 skip that check (the WAL will be there by the time the server starts)
  --target-time/-lsn/-name/-xid V, --target immediate   where recovery stops (one at most)
  --target-action ACTION      promote, pause (PostgreSQL's default) or shutdown at the target
  --standby                   come up as a standby (standby.signal)
  --tablespace-mapping O=N    move a tablespace from O to N (repeatable; N must exist, and be empty
                              when the copy holds the tablespace's data in pg_tblspc/)`,
  options: {
    ...COMMON_OPTIONS,
    id: { type: 'string' },
    store: { type: 'string' },
    pgdata: { type: 'string' },
    'restore-command': { type: 'string' },
    'wal-archive': { type: 'string' },
    'no-verify': { type: 'boolean' },
    ...RECOVERY_TARGET_OPTIONS,
    'target-action': { type: 'string' },
    standby: { type: 'boolean' },
    'tablespace-mapping': { type: 'string', multiple: true },
  },
  async run(values) {
    const id = requiredId(values);
    const storeUrl = required(values, 'store');
    const pgdata = required(values, 'pgdata');
    const restoreCommand = text(values, 'restore-command');
    const walArchiveUrl = text(values, 'wal-archive');
    if (restoreCommand !== undefined && walArchiveUrl !== undefined) {
      throw new BackupError('INVALID_OPTION', 'Give --restore-command or --wal-archive, not both.', { details: { option: 'wal-archive' } });
    }
    if (values['no-verify'] === true && walArchiveUrl === undefined) {
      throw new BackupError('INVALID_OPTION', '--no-verify skips the check of --wal-archive, which was not given.', { details: { option: 'no-verify' } });
    }
    const action = text(values, 'target-action');
    if (action !== undefined && !['promote', 'pause', 'shutdown'].includes(action)) {
      throw new BackupError('INVALID_OPTION', `--target-action takes promote, pause or shutdown, got ${action}.`, { details: { option: 'target-action' } });
    }
    const target = recoveryTargetFlags(values);
    const report = await prepareRestore({
      id,
      store: await openStore(storeUrl),
      pgdata,
      ...(restoreCommand !== undefined ? { restoreCommand } : {}),
      ...(walArchiveUrl !== undefined ? { walArchive: walArchiveUrl } : {}),
      ...(target ? { target } : {}),
      ...(action ? { targetAction: action as RecoveryTargetAction } : {}),
      ...(values.standby === true ? { standby: true } : {}),
      ...(values['no-verify'] === true ? { verify: false } : {}),
      tablespaceMapping: tablespaceMapping(values),
    });
    const { summary, ...rest } = report;
    return {
      json: { ok: true, ...rest, startLsn: summary.startLsn, stopLsn: summary.stopLsn, stopWalFile: summary.stopWalFile },
      text: lines(
        `backup ${id} is ready to start in ${pgdata}`,
        list('written:  ', report.written, Infinity),
        list('moved:    ', report.moved, Infinity),
        list('removed:  ', report.removed),
        ...report.notes.map((note) => `note:     ${note}`),
        report.walCheck
          ? `recovery needs WAL ${summary.startWalFile} .. ${summary.stopWalFile}: all ${report.walCheck.needed.length} files are in ${report.walCheck.archive}`
          : `recovery needs WAL ${summary.startWalFile} .. ${summary.stopWalFile}${restoreCommand !== undefined || walArchiveUrl !== undefined ? ` (not checked: pg-split-backup verify --id ${id} --store ${storeUrl} --wal-archive ARCHIVE checks an archive)` : ''}`,
        `start it with: ${report.startCommand}`,
        "then watch the server log for 'consistent recovery state reached'",
      ),
    };
  },
};

const verify: Command = {
  name: 'verify',
  summary: 'check that the WAL archive holds every file a backup needs (exit 5 if not)',
  usage: 'pg-split-backup verify --id ID --store URL --wal-archive URL [--json]',
  details: `Lists the archive once and checks every segment from the backup's start WAL file through its stop
WAL file (and the timeline history file above timeline 1), accepting .gz .lz4 .zst .bz2 .xz copies.
Exit 0 when complete; exit 5 listing what is missing.

  --id ID             the backup ID
  --store URL         where its summary is
  --wal-archive URL   file:///dir, /dir or s3://bucket/prefix[?...]`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' }, store: { type: 'string' }, 'wal-archive': { type: 'string' } },
  async run(values) {
    const id = requiredId(values);
    const store = await openStore(required(values, 'store'));
    const archive = await openWalArchive(required(values, 'wal-archive'));
    const summary = await store.get(id);
    const result = await assertWalComplete(summary, archive);
    return {
      json: { ok: true, ...result },
      text: `backup ${id}: all ${result.needed.length} WAL files are in ${archive.name} (${result.needed[0]} .. ${result.needed[result.needed.length - 1]})`,
    };
  },
};

const excludes: Command = {
  name: 'excludes',
  summary: 'print what a copy of the data directory must leave out, in a backup tool’s syntax',
  usage: 'pg-split-backup excludes [--format list|rsync|tar|restic|borg|bacula|json] [--pg-major N] [--pgdata DIR]',
  details: `Prints the paths a copy must leave out (as PostgreSQL's own base backup does), relative to the data
directory, one pattern per line:
  list    plain patterns          tar     for tar -C PGDATA --exclude-from=FILE .
  rsync   for rsync --filter='merge FILE' PGDATA/ DEST/
  restic  for restic --exclude-file=FILE (absolute: needs --pgdata)
  borg    for borg create --patterns-from=FILE (needs --pgdata)
  bacula  an Options { Exclude = yes  Wild = ... } block for a Bacula or Bareos FileSet's
          Include { } (absolute: needs --pgdata)
  json    pattern and reason for each

  --format F     default list
  --pg-major N   the server's major version (default 18)
  --pgdata DIR   the data directory, for restic, borg and bacula`,
  options: { ...COMMON_OPTIONS, format: { type: 'string' }, 'pg-major': { type: 'string' }, pgdata: { type: 'string' } },
  async run(values) {
    const format = (text(values, 'format') ?? 'list') as ExclusionFormat;
    if (!EXCLUSION_FORMATS.includes(format)) {
      throw new BackupError('INVALID_OPTION', `--format takes ${EXCLUSION_FORMATS.join(', ')}, got ${format}.`, { details: { option: 'format' } });
    }
    const majorText = text(values, 'pg-major');
    const major = majorText === undefined ? undefined : Number(majorText);
    const pgdata = text(values, 'pgdata');
    const output = copyExclusions({ format, ...(major !== undefined ? { major } : {}), ...(pgdata !== undefined ? { pgdata } : {}) });
    return { json: { ok: true, format, patterns: output.trimEnd().split('\n') }, text: output.trimEnd() };
  },
};

/** The restore-side commands. */
export const RESTORE_COMMANDS: readonly Command[] = [restore, verify, excludes];
