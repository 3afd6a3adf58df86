import { BackupError, openStore, prepareRestore, type RecoveryTargetAction } from '../../index.js';
import { RECOVERY_TARGET_OPTIONS, recoveryTargetFlags, targetTimelineFlag, timelineLine } from '../restore-flags.js';
import { COMMON_OPTIONS, lines, required, requiredId, strings, text, type Command, type Values } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption, encryptionSettings } from '../encryption-flags.js';
import { list } from './restore-kit.js';

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

export const restore: Command = {
  name: 'restore',
  summary: 'put a backup’s summary into its restored data copy, ready to start',
  usage:
    'pg-split-backup restore --id ID --store URL --pgdata DIR [--restore-command CMD | --wal-archive URL [--no-verify]] [--target-time T | --target-lsn L | --target-name N | --target-xid X | --target immediate] [--target-action promote|pause|shutdown] [--target-timeline latest|current|N] [--archive-mode preserve|off] [--standby] [--tablespace-mapping OLD=NEW]... [--json]',
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
  --target-timeline T         latest, current (the backup's own) or a timeline number; by default
                              chosen from the archive's history files: latest when the newest
                              timeline holds the backup, else the newest that does (the report says
                              which and why); refused (exit 2) when T cannot hold the backup
  --archive-mode MODE         preserve (default: the copy's archiving as it is; a note says when its
                              archive_command writes into the archive restored from) or off
                              (archive_mode = 'off' in postgresql.auto.conf)
  --standby                   come up as a standby (standby.signal)
  --tablespace-mapping O=N    move a tablespace from O to N (repeatable; N must exist, and be empty
                              when the copy holds the tablespace's data in pg_tblspc/)
${ENCRYPTION_HELP}`,
  options: {
    ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS,
    id: { type: 'string' },
    store: { type: 'string' },
    pgdata: { type: 'string' },
    'restore-command': { type: 'string' },
    'wal-archive': { type: 'string' },
    'no-verify': { type: 'boolean' },
    ...RECOVERY_TARGET_OPTIONS,
    'target-action': { type: 'string' },
    'archive-mode': { type: 'string' },
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
    const targetTimeline = targetTimelineFlag(values);
    const archiveMode = text(values, 'archive-mode');
    const report = await prepareRestore({
      id,
      store: await openStore(storeUrl, await encryptionOption(values)),
      ...encryptionSettings(values),
      pgdata,
      ...(restoreCommand !== undefined ? { restoreCommand } : {}),
      ...(walArchiveUrl !== undefined ? { walArchive: walArchiveUrl } : {}),
      ...(target ? { target } : {}),
      ...(action ? { targetAction: action as RecoveryTargetAction } : {}),
      ...(values.standby === true ? { standby: true } : {}),
      ...(targetTimeline !== undefined ? { targetTimeline } : {}),
      ...(archiveMode !== undefined ? { archiveMode: archiveMode as 'preserve' | 'off' } : {}),
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
        `timeline: ${timelineLine(report.timeline)}`,
        report.walCheck
          ? `recovery needs WAL ${summary.startWalFile} .. ${summary.stopWalFile}: all ${report.walCheck.needed.length} files are in ${report.walCheck.archive}`
          : `recovery needs WAL ${summary.startWalFile} .. ${summary.stopWalFile}${restoreCommand !== undefined || walArchiveUrl !== undefined ? ` (not checked: pg-split-backup verify --id ${id} --store ${storeUrl} --wal-archive ARCHIVE checks an archive)` : ''}`,
        `start it with: ${report.startCommand}`,
        "then watch the server log for 'consistent recovery state reached'",
      ),
    };
  },
};
