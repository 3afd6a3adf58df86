import { chown, mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { isSealed } from '../crypto/envelope.js';
import { encryptionFrom, type EncryptionSettings } from '../crypto/keyring.js';
import { BackupError } from '../errors.js';
import type { CallOptions, LabelStore } from '../sinks/contract.js';
import { assertBackupId } from '../summary/backup-id.js';
import type { BackupSummary } from '../summary/summary.js';
import { throwIfAborted } from '../util/abort.js';
import { readFileIfExists, writeFileDurable } from '../util/durable-fs.js';
import { assertCopyOfBackup } from './copy-match.js';
import { readDataDirectory } from './data-directory.js';
import { judgePostmasterPid } from './postmaster-pid.js';
import {
  assertArchiveMode,
  assertRecoveryTarget,
  parseTargetTimeline,
  RECOVERY_SETTING,
  recoveryLines,
  type ArchiveMode,
  type RecoveryTarget,
  type RecoveryTargetAction,
} from './recovery-config.js';
import type { TargetTimeline, TimelineChoice } from '../summary/timeline-history.js';
import { archivesIntoSameArchive } from './archive-hazard.js';
import { chooseRecoveryTimeline } from './recovery-timeline.js';
import { applyTablespaces, mapTablespaces, planTablespaces } from './tablespaces.js';
import { parseStoreUrl } from '../stores/store-url.js';
import { archiveGetCommand } from './archive-command-line.js';
import { verifyRestoreWal, type WalVerification } from './verify-wal.js';
import { openWalArchive, type WalArchive } from './wal-archive.js';
import { storedWalName, WAL_COMPRESSIONS } from './wal-compression.js';

/** Options of {@link prepareRestore}. */
export interface PrepareRestoreOptions extends CallOptions, EncryptionSettings {
  /** The backup ID (= label) to restore. */
  readonly id: string;
  /** The catalogue holding the backup's summary. */
  readonly store: LabelStore;
  /** The data directory the backup program restored the data copy into. The server must be stopped. */
  readonly pgdata: string;
  /** A `restore_command`, e.g. `cp /archive/%f %p`. */
  readonly restoreCommand?: string;
  /**
   * The WAL archive, as a URL (`/dir`, `file:///dir`, `s3://bucket/prefix?...`): restore checks it
   * holds the backup's WAL and builds `restore_command` from it: `cp` for a directory of plain WAL
   * files, `pg-split-backup archive-get` for S3 or a directory holding some of that WAL only
   * compressed. Without this or `restoreCommand`, the backup must carry its own WAL (`includeWal`).
   */
  readonly walArchive?: string;
  /**
   * How the server's shell starts the CLI in an archive-get `restore_command` (see
   * `archiveGetCommand`). @default 'pg-split-backup' (on the server user's PATH)
   */
  readonly archiveProgram?: string;
  /** Stop recovery at this target; without one, recovery replays all archived WAL. */
  readonly target?: RecoveryTarget;
  /** What to do at the target. @default PostgreSQL's (pause) */
  readonly targetAction?: RecoveryTargetAction;
  /** Come up as a standby (standby.signal) instead of a one-off recovery. @default false */
  readonly standby?: boolean;
  /**
   * Move tablespaces: old location → new location. Rewrites tablespace_map; the new directories
   * must exist. A tablespace whose data the copy holds inside `pg_tblspc/<oid>` (a copy that
   * followed the symlink) is moved into its location, which must then be empty.
   */
  readonly tablespaceMapping?: Readonly<Record<string, string>>;
  /**
   * The archive to check before anything is written: it must hold every WAL file the backup needs
   * (`WAL_INCOMPLETE` otherwise). @default the archive `walArchive` names, when given
   */
  readonly archive?: WalArchive;
  /** Check the archive for the backup's WAL before writing (see `archive`). @default true */
  readonly verify?: boolean;
  /**
   * `recovery_target_timeline`: `latest`, `current` (the backup's own; written as its number on
   * 10-11) or a timeline number. Checked against the archive's history files: a timeline that
   * cannot hold the backup is refused (`TIMELINE_UNREACHABLE`). @default decided from the
   * archive's history files: `latest` when the newest timeline holds the backup, else the newest
   * one that does (often `current`); `latest`, unchecked, with only a `restoreCommand`
   */
  readonly targetTimeline?: TargetTimeline;
  /**
   * `preserve` keeps the copy's archiving settings (a note says when its archive_command writes
   * into the archive restored from); `off` writes `archive_mode = 'off'` into postgresql.auto.conf,
   * so the restored server archives nothing until that line is removed. @default 'preserve'
   */
  readonly archiveMode?: ArchiveMode;
}

/** What {@link prepareRestore} did. */
export interface RestoreReport {
  /** The backup restored. */
  readonly id: string;
  /** The data directory prepared. */
  readonly pgdata: string;
  /** The summary that was installed. */
  readonly summary: BackupSummary;
  /** Files written or replaced, relative to pgdata. */
  readonly written: readonly string[];
  /** What was moved out of the copy, as `FROM -> TO` (FROM relative to pgdata): dereferenced tablespaces. */
  readonly moved: readonly string[];
  /** Files removed, relative to pgdata. */
  readonly removed: readonly string[];
  /** Why things were removed or linked, one sentence each, for the operator. */
  readonly notes: readonly string[];
  /** The archive check made before writing, when there was an archive to check. */
  readonly walCheck: WalVerification | undefined;
  /** The recovery timeline written, and why it was chosen. */
  readonly timeline: TimelineChoice;
  /** The command that starts the restored server. */
  readonly startCommand: string;
}

const WAL_NAME = /^[0-9A-F]{24}(\.partial)?$|^[0-9A-F]{8}\.history$|^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/;
/** archive-push --async's acknowledgements and archive-get's prefetch queue: the source's, stale in a copy. */
const OWN_WAL_DIRECTORIES = ['pgsb-archive-push', 'pgsb-prefetch'];
const AUTO_CONF = 'postgresql.auto.conf';
const BLOCK_BEGIN = '# pg-split-backup restore: begin';
const BLOCK_END = '# pg-split-backup restore: end';

function quoteShell(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

async function readIfExists(path: string): Promise<string | undefined> {
  return (await readFileIfExists(path))?.toString('utf8');
}

/**
 * Reads the backup's first WAL file from the archive (any compression), which proves the keys open
 * it before anything is written (`ENCRYPTION_KEY_MISSING`, `DECRYPTION_FAILED` otherwise). True when
 * the archive handed over sealed bytes (an archive not opened by openWalArchive): cp cannot restore it.
 */
async function readStartWal(archive: WalArchive, walFile: string, call: CallOptions): Promise<boolean> {
  if (archive.readFile === undefined) return false;
  for (const compression of WAL_COMPRESSIONS) {
    const stored = await archive.readFile(storedWalName(walFile, compression), call);
    if (stored !== undefined) return isSealed(stored);
  }
  return false;
}

/**
 * Turns a restored data copy into a data directory that recovers to a consistent state: checks
 * that the copy, the summary and the WAL belong together, then installs `backup_label` (and
 * `tablespace_map`), empties `pg_wal/`, and writes the recovery configuration the version needs.
 * Every check runs before anything is written, so a refusal changes nothing; every change is in
 * the report (`written`, `moved`, `removed`); running it twice gives the same directory.
 *
 * The checks: the copy is of this cluster and major, and its pg_control checkpoint lies inside
 * the backup's window (else it is another backup's copy); no server runs on it (a postmaster.pid
 * that came with the copy, or whose process is gone, is removed and reported); no other backup's
 * backup_label, no recovery.conf on 12+, nothing but WAL in pg_wal; every tablespace's data is
 * there or inside the copy (then moved to an empty location); the recovery target is valid; and
 * the archive, when known, holds every WAL file the backup needs.
 *
 * @throws BackupError `NOT_FOUND` / `CORRUPT_SUMMARY` (summary), `DATA_DIR_IN_USE` (a server runs
 * on pgdata), `LABEL_MISMATCH` (another cluster, major or backup), `RESTORE_CONFLICT` (another
 * backup's label, recovery.conf on 12+, unknown files in pg_wal, tablespace data that would have
 * to be deleted or mixed), `WAL_INCOMPLETE` (the archive lacks WAL the backup needs), `INVALID_OPTION`.
 *
 * @example
 * ```ts
 * const report = await prepareRestore({
 *   id: 'nightly-2026-11-25',
 *   store: new FilesystemSummaryStore({ directory: '/var/backups/pg-summaries' }),
 *   pgdata: '/var/lib/postgresql/15/main',
 *   walArchive: '/var/backups/wal',
 * });
 * console.log(report.startCommand);
 * ```
 */
export async function prepareRestore(options: PrepareRestoreOptions): Promise<RestoreReport> {
  assertBackupId(options.id);
  if (!isAbsolute(options.pgdata)) throw new BackupError('INVALID_OPTION', `pgdata must be an absolute path, got ${options.pgdata}.`, { details: { option: 'pgdata' } });
  if (options.restoreCommand !== undefined && options.walArchive !== undefined) {
    throw new BackupError('INVALID_OPTION', 'Give either restoreCommand or walArchive, not both.', { details: { option: 'restoreCommand' } });
  }
  if (options.walArchive !== undefined && !options.walArchive.includes(':') && !isAbsolute(options.walArchive)) {
    throw new BackupError('INVALID_OPTION', `walArchive must be an absolute directory or a URL, got ${options.walArchive}.`, { details: { option: 'walArchive' } });
  }
  const walUrl = options.walArchive === undefined ? undefined : parseStoreUrl(options.walArchive);
  if (options.target !== undefined) assertRecoveryTarget(options.target);
  const askedTimeline = options.targetTimeline === undefined ? undefined : parseTargetTimeline(options.targetTimeline);
  const archiveMode = options.archiveMode === undefined ? 'preserve' : assertArchiveMode(options.archiveMode);
  throwIfAborted(options.signal);
  const call = options.signal ? { signal: options.signal } : {};
  const summary = await options.store.get(options.id, call);
  if (options.target !== undefined) assertRecoveryTarget(options.target, summary.stopLsn);
  const pgdata = options.pgdata;
  const facts = await readDataDirectory(pgdata);
  const notes: string[] = [];
  let stalePid = false;
  if (facts.postmasterPid !== undefined) {
    const verdict = await judgePostmasterPid(pgdata, facts.postmasterPid);
    if (verdict.kind === 'live') {
      throw new BackupError(
        'DATA_DIR_IN_USE',
        `${pgdata} is in use: its postmaster.pid names process ${verdict.pid}, and ${verdict.why.replace(/^process \d+ /, 'that process ')}. Never restore over a live data directory: restore the copy into another directory.`,
        { details: { pgdata, pid: verdict.pid } },
      );
    }
    stalePid = true;
    notes.push(`postmaster.pid removed: ${verdict.why}`);
  }
  await assertCopyOfBackup(summary, facts, pgdata, options.store, call);
  const attachments = summary.attachments ?? [];
  // The archive is listed before anything is written: to check it holds the backup's WAL, and for a
  // directory to know whether cp can restore it (not when some of it is only compressed).
  const encryption = await encryptionFrom(options);
  const archive = options.archive ?? (options.walArchive !== undefined ? await openWalArchive(options.walArchive, encryption !== undefined ? { encryption } : {}) : undefined);
  const carried = { ...call, carried: attachments.map((a) => a.name.slice('pg_wal/'.length)) };
  const verify = options.verify !== false;
  // One listing: the history files decide the timeline, whose WAL is then checked.
  const restoreCheck = { ...carried, ...(askedTimeline !== undefined ? { targetTimeline: askedTimeline } : {}) };
  const checked = archive === undefined ? undefined : await verifyRestoreWal(summary, archive, { ...restoreCheck, assert: verify });
  const timeline = checked?.timeline ?? chooseRecoveryTimeline({ summary, major: facts.major, ...(askedTimeline !== undefined ? { asked: askedTimeline } : {}) });
  const listing = checked === undefined ? undefined : (({ timeline: _t, ...wal }) => wal)(checked);
  // cp only for a directory of plain files: an encrypted archive, or one whose first segment is
  // sealed (read here: refused without its key), goes through archive-get, which opens it.
  const sealedStart = archive !== undefined && verify ? await readStartWal(archive, summary.startWalFile, call) : false;
  const copyable = walUrl?.kind === 'file' && (listing?.compressedOnly.length ?? 0) === 0 && encryption === undefined && !sealedStart;
  const restoreCommand =
    options.restoreCommand ??
    (walUrl === undefined
      ? undefined
      : copyable
        ? `cp ${quoteShell(join(walUrl.directory, '%f'))} "%p"`
        : archiveGetCommand(options.walArchive!, {
            ...(options.archiveProgram !== undefined ? { program: options.archiveProgram } : {}),
            ...(options.encryptionKeyFiles !== undefined ? { encryptionKeyFiles: options.encryptionKeyFiles.map((f) => resolve(f)) } : {}),
            ...(options.requireEncrypted === true ? { requireEncrypted: true } : {}),
          }));
  const carriesWal = attachments.some((a) => a.name.startsWith('pg_wal/'));
  // A backup with its own WAL restores like pg_basebackup -X fetch: backup_label + pg_wal, no archive.
  const archiveless = restoreCommand === undefined;
  if (archiveless && !carriesWal) {
    throw new BackupError('INVALID_OPTION', `Backup ${options.id} carries no WAL: give a restore command or a WAL archive so recovery can fetch it.`, {
      details: { option: 'walArchive' },
    });
  }
  if (archiveless && (options.target !== undefined || options.standby || askedTimeline !== undefined)) {
    throw new BackupError('INVALID_OPTION', 'A recovery target, a target timeline or standby mode needs a restore command or a WAL archive.', { details: { option: 'target' } });
  }
  if (archiveMode === 'preserve' && walUrl !== undefined) {
    // The command itself is not quoted: it may hold credentials.
    if (await archivesIntoSameArchive(pgdata, walUrl)) {
      notes.push(
        `the copy's archive_command writes into the same archive it is restored from (${options.walArchive}): started as it is, this server archives its new timeline beside production's WAL; for a test restore use drill, or restore with --archive-mode off`,
      );
    }
  }
  if (archiveMode === 'off') notes.push("archive_mode = 'off' is set in postgresql.auto.conf: this server archives nothing until that line is removed");
  if (summary.backupFrom === 'standby' && !attachments.some((a) => a.name === 'global/pg_control')) {
    throw new BackupError(
      'CORRUPT_SUMMARY',
      `Backup ${options.id} was taken from a standby but its summary has no pg_control: the restored cluster could stop recovery too early. Do not restore from it.`,
      { details: { id: options.id } },
    );
  }
  const lines = recoveryLines(
    {
      ...(restoreCommand !== undefined ? { restoreCommand } : {}),
      ...(options.target ? { target: options.target } : {}),
      ...(options.targetAction ? { targetAction: options.targetAction } : {}),
      ...(options.standby ? { standby: true } : {}),
      ...(archiveless ? {} : { targetTimeline: timeline.setting }),
    },
    facts.major,
  );
  const serverLines = archiveMode === 'off' ? [`archive_mode = 'off'`] : [];
  const { text: tablespaceMap, links } = mapTablespaces(summary.tablespaceMap, options.tablespaceMapping ?? {});
  const tablespaceSteps = await planTablespaces(pgdata, links, facts.major);
  const labelPath = join(pgdata, 'backup_label');
  const existingLabel = await readIfExists(labelPath);
  if (existingLabel !== undefined && existingLabel !== summary.labelFile) {
    const other = /^LABEL: (.*)$/m.exec(existingLabel)?.[1] ?? '(unknown)';
    throw new BackupError(
      'RESTORE_CONFLICT',
      `${labelPath} belongs to another backup (${other}): recovery would start from the wrong checkpoint. Restore a clean copy of backup ${options.id}, or remove that file if you know why it is there.`,
      { details: { path: labelPath, label: other } },
    );
  }
  const recoveryConf = join(pgdata, 'recovery.conf');
  const recoveryConfText = `${BLOCK_BEGIN} ${options.id}\n${lines.join('\n')}\n${BLOCK_END}\n`;
  const existingRecoveryConf = await readIfExists(recoveryConf);
  if (existingRecoveryConf !== undefined && (facts.major >= 12 || existingRecoveryConf !== recoveryConfText)) {
    throw new BackupError(
      'RESTORE_CONFLICT',
      facts.major >= 12
        ? `${recoveryConf} exists, which PostgreSQL ${facts.major} refuses to start with. Remove it; its settings belong in postgresql.conf.`
        : `${recoveryConf} exists and was not written for backup ${options.id}. Remove it first.`,
      { details: { path: recoveryConf } },
    );
  }
  const walDir = join(pgdata, 'pg_wal');
  const walEntries = await readdir(walDir).catch(() => [] as string[]);
  const foreign = walEntries.filter((name) => !WAL_NAME.test(name) && name !== 'archive_status' && name !== 'summaries' && !OWN_WAL_DIRECTORIES.includes(name));
  if (foreign.length > 0) {
    throw new BackupError('RESTORE_CONFLICT', `${walDir} holds files that are not WAL: ${foreign.slice(0, 5).join(', ')}. Check what they are, remove them, and run the restore again.`, {
      details: { path: walDir, files: foreign },
    });
  }
  const walCheck = verify ? listing : undefined;
  throwIfAborted(options.signal);

  // Every check passed: from here on, change the directory.
  const written: string[] = [];
  const removed: string[] = [];
  const owner = process.getuid?.() === 0 ? { uid: facts.uid, gid: facts.gid } : undefined;
  const own = async (path: string): Promise<void> => {
    if (owner) await chown(path, owner.uid, owner.gid);
  };
  const put = async (name: string, body: string): Promise<void> => {
    await writeFileDurable(join(pgdata, name), body, 0o600);
    await own(join(pgdata, name));
    written.push(name);
  };
  if (stalePid) {
    await rm(join(pgdata, 'postmaster.pid'), { force: true });
    removed.push('postmaster.pid');
  }
  for (const name of walEntries.filter((n) => WAL_NAME.test(n))) {
    await rm(join(walDir, name), { force: true });
    removed.push(`pg_wal/${name}`);
  }
  for (const name of walEntries.filter((n) => OWN_WAL_DIRECTORIES.includes(n))) {
    await rm(join(walDir, name), { recursive: true, force: true });
    removed.push(`pg_wal/${name}/`);
    notes.push(`pg_wal/${name}/ removed: pg-split-backup's working directory on the source, stale in a copy`);
  }
  await mkdir(join(walDir, 'archive_status'), { recursive: true, mode: 0o700 });
  await own(walDir);
  await own(join(walDir, 'archive_status'));
  for (const name of await readdir(join(walDir, 'archive_status'))) {
    await rm(join(walDir, 'archive_status', name), { force: true });
    removed.push(`pg_wal/archive_status/${name}`);
  }
  for (const attachment of attachments) {
    await writeFileDurable(join(pgdata, attachment.name), attachment.body, 0o600);
    await own(join(pgdata, attachment.name));
    written.push(attachment.name);
  }
  await put('backup_label', summary.labelFile);
  const moved: string[] = [];
  if (tablespaceMap !== '') {
    await put('tablespace_map', tablespaceMap);
    const changes = await applyTablespaces(pgdata, tablespaceSteps, owner);
    written.push(...changes.written);
    moved.push(...changes.moved);
    removed.push(...changes.removed);
    notes.push(...changes.notes);
  }
  if (facts.major >= 12) {
    const signal = archiveless ? undefined : options.standby ? 'standby.signal' : 'recovery.signal';
    if (signal) await put(signal, '');
    for (const other of ['recovery.signal', 'standby.signal'].filter((f) => f !== signal)) {
      if ((await readIfExists(join(pgdata, other))) !== undefined) {
        await unlink(join(pgdata, other));
        removed.push(other);
      }
    }
    await put(AUTO_CONF, withRecoveryBlock((await readIfExists(join(pgdata, AUTO_CONF))) ?? '', options.id, [...lines, ...serverLines]));
  } else {
    if (!archiveless) await put('recovery.conf', recoveryConfText);
    // 10-11 read archive_mode from postgresql.conf / .auto.conf only; a block of an earlier run is replaced.
    const autoConf = await readIfExists(join(pgdata, AUTO_CONF));
    if (serverLines.length > 0 || autoConf?.includes(BLOCK_BEGIN)) await put(AUTO_CONF, withRecoveryBlock(autoConf ?? '', options.id, serverLines));
  }
  return {
    id: options.id,
    pgdata,
    summary,
    written,
    moved,
    removed,
    notes,
    walCheck,
    timeline,
    startCommand: `pg_ctl -D ${quoteShell(pgdata)} start`,
  };
}

/** Replaces (or appends) our marked block, and comments out other recovery settings that would conflict. */
function withRecoveryBlock(autoConf: string, id: string, lines: string[]): string {
  const kept: string[] = [];
  let inBlock = false;
  for (const line of autoConf.split('\n')) {
    if (line.startsWith(BLOCK_BEGIN)) inBlock = true;
    else if (line.startsWith(BLOCK_END)) inBlock = false;
    else if (!inBlock) kept.push(RECOVERY_SETTING.test(line) ? `# disabled by pg-split-backup restore: ${line}` : line);
  }
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  return `${kept.join('\n')}\n${BLOCK_BEGIN} ${id}\n${lines.join('\n')}${lines.length ? '\n' : ''}${BLOCK_END}\n`;
}
