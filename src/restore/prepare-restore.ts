import { chown, lstat, mkdir, readdir, rm, symlink, readlink, stat, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { BackupError } from '../errors.js';
import type { CallOptions, LabelStore } from '../sinks/contract.js';
import { assertBackupId } from '../summary/backup-id.js';
import type { BackupSummary } from '../summary/summary.js';
import { throwIfAborted } from '../util/abort.js';
import { readFileIfExists, writeFileDurable } from '../util/durable-fs.js';
import { majorOf, readDataDirectory, type DataDirectoryFacts } from './data-directory.js';
import { RECOVERY_SETTING, recoveryLines, type RecoveryTarget, type RecoveryTargetAction } from './recovery-config.js';

/** Options of {@link prepareRestore}. */
export interface PrepareRestoreOptions extends CallOptions {
  /** The backup ID (= label) to restore. */
  readonly id: string;
  /** The catalogue holding the backup's summary. */
  readonly store: LabelStore;
  /** The data directory the backup program restored the data copy into. The server must be stopped. */
  readonly pgdata: string;
  /** A `restore_command`, e.g. `cp /archive/%f %p`. */
  readonly restoreCommand?: string;
  /**
   * A filesystem WAL archive: builds `restore_command` as a `cp` from it. Without this or
   * `restoreCommand`, the backup must carry its own WAL (`includeWal`).
   */
  readonly walArchive?: string;
  /** Stop recovery at this target; without one, recovery replays all archived WAL. */
  readonly target?: RecoveryTarget;
  /** What to do at the target. @default PostgreSQL's (pause) */
  readonly targetAction?: RecoveryTargetAction;
  /** Come up as a standby (standby.signal) instead of a one-off recovery. @default false */
  readonly standby?: boolean;
  /** Move tablespaces: old location → new location. Rewrites tablespace_map; the new directories must exist. */
  readonly tablespaceMapping?: Readonly<Record<string, string>>;
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
  /** Files removed, relative to pgdata. */
  readonly removed: readonly string[];
  /** The command that starts the restored server. */
  readonly startCommand: string;
}

const WAL_NAME = /^[0-9A-F]{24}(\.partial)?$|^[0-9A-F]{8}\.history$|^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/;
const AUTO_CONF = 'postgresql.auto.conf';
const BLOCK_BEGIN = '# pg-split-backup restore: begin';
const BLOCK_END = '# pg-split-backup restore: end';

function quoteShell(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

/** tablespace_map lines are `<oid> <path>` with `\n`, `\r` (and 14+ `\`) escaped in the path. */
function rewriteTablespaceMap(map: string, mapping: Readonly<Record<string, string>>): { text: string; links: { oid: string; path: string }[] } {
  const links: { oid: string; path: string }[] = [];
  const lines = map.split('\n').filter((l) => l !== '');
  const out = lines.map((line) => {
    const space = line.indexOf(' ');
    const oid = line.slice(0, space);
    const path = line.slice(space + 1);
    const target = mapping[path] ?? path;
    links.push({ oid, path: target });
    return `${oid} ${target}`;
  });
  for (const old of Object.keys(mapping)) {
    if (!lines.some((l) => l.slice(l.indexOf(' ') + 1) === old)) {
      throw new BackupError('INVALID_OPTION', `--tablespace-mapping names ${old}, which is not a tablespace of this backup.`, { details: { option: 'tablespaceMapping' } });
    }
  }
  return { text: out.length ? `${out.join('\n')}\n` : '', links };
}

async function readIfExists(path: string): Promise<string | undefined> {
  return (await readFileIfExists(path))?.toString('utf8');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Turns a restored data copy into a data directory that recovers to a consistent state: checks
 * that the summary belongs to it, then installs `backup_label` (and `tablespace_map`), empties
 * `pg_wal/`, and writes the recovery configuration the version needs. Every check runs before
 * anything is written; running it twice gives the same directory.
 *
 * @throws BackupError `NOT_FOUND` / `CORRUPT_SUMMARY` (summary), `DATA_DIR_IN_USE` (live
 * postmaster.pid), `LABEL_MISMATCH` (other cluster or major), `RESTORE_CONFLICT` (another
 * backup's label, recovery.conf on 12+, unknown files in pg_wal), `INVALID_OPTION`.
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
  if (options.walArchive !== undefined && !isAbsolute(options.walArchive)) {
    throw new BackupError('INVALID_OPTION', `walArchive must be an absolute directory, got ${options.walArchive}.`, { details: { option: 'walArchive' } });
  }
  throwIfAborted(options.signal);
  const summary = await options.store.get(options.id, options.signal ? { signal: options.signal } : {});
  const pgdata = options.pgdata;
  const facts = await readDataDirectory(pgdata);
  await checkNotRunning(pgdata, facts);
  checkBelongs(summary, facts, pgdata);
  const restoreCommand = options.restoreCommand ?? (options.walArchive ? `cp ${quoteShell(join(options.walArchive, '%f'))} "%p"` : undefined);
  const attachments = summary.attachments ?? [];
  const carriesWal = attachments.some((a) => a.name.startsWith('pg_wal/'));
  // A backup with its own WAL restores like pg_basebackup -X fetch: backup_label + pg_wal, no archive.
  const archiveless = restoreCommand === undefined;
  if (archiveless && !carriesWal) {
    throw new BackupError('INVALID_OPTION', `Backup ${options.id} carries no WAL: give a restore command or a WAL archive so recovery can fetch it.`, {
      details: { option: 'walArchive' },
    });
  }
  if (archiveless && (options.target !== undefined || options.standby)) {
    throw new BackupError('INVALID_OPTION', 'A recovery target or standby mode needs a restore command or a WAL archive.', { details: { option: 'target' } });
  }
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
    },
    facts.major,
  );
  const { text: tablespaceMap, links } = rewriteTablespaceMap(summary.tablespaceMap, options.tablespaceMapping ?? {});
  for (const link of links) {
    const st = await stat(link.path).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new BackupError('INVALID_OPTION', `Tablespace ${link.oid} needs the directory ${link.path}, which does not exist. Restore it there, or map it with --tablespace-mapping OLD=NEW.`, {
        details: { tablespace: link.oid, path: link.path },
      });
    }
  }
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
  const foreign = walEntries.filter((name) => !WAL_NAME.test(name) && name !== 'archive_status' && name !== 'summaries');
  if (foreign.length > 0) {
    throw new BackupError('RESTORE_CONFLICT', `${walDir} holds files that are not WAL: ${foreign.slice(0, 5).join(', ')}. Check what they are, remove them, and run the restore again.`, {
      details: { path: walDir, files: foreign },
    });
  }
  throwIfAborted(options.signal);

  // Every check passed: from here on, change the directory.
  const written: string[] = [];
  const removed: string[] = [];
  const own = async (path: string): Promise<void> => {
    if (process.getuid?.() === 0) await chown(path, facts.uid, facts.gid);
  };
  const put = async (name: string, body: string): Promise<void> => {
    await writeFileDurable(join(pgdata, name), body, 0o600);
    await own(join(pgdata, name));
    written.push(name);
  };
  if (facts.postmasterPid !== undefined) {
    await rm(join(pgdata, 'postmaster.pid'), { force: true });
    removed.push('postmaster.pid');
  }
  for (const name of walEntries.filter((n) => WAL_NAME.test(n))) {
    await rm(join(walDir, name), { force: true });
    removed.push(`pg_wal/${name}`);
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
  if (tablespaceMap !== '') {
    await put('tablespace_map', tablespaceMap);
    await relinkTablespaces(pgdata, links, own);
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
    await put(AUTO_CONF, withRecoveryBlock((await readIfExists(join(pgdata, AUTO_CONF))) ?? '', options.id, lines));
  } else if (!archiveless) {
    await put('recovery.conf', recoveryConfText);
  }
  return {
    id: options.id,
    pgdata,
    summary,
    written,
    removed,
    startCommand: `pg_ctl -D ${quoteShell(pgdata)} start`,
  };
}

async function checkNotRunning(pgdata: string, facts: DataDirectoryFacts): Promise<void> {
  if (facts.postmasterPid !== undefined && facts.postmasterPid > 0 && isAlive(facts.postmasterPid)) {
    throw new BackupError(
      'DATA_DIR_IN_USE',
      `${pgdata} is in use: postmaster.pid names process ${facts.postmasterPid}, which is running. Stop that server; never restore over a live data directory.`,
      { details: { pgdata, pid: facts.postmasterPid } },
    );
  }
}

function checkBelongs(summary: BackupSummary, facts: DataDirectoryFacts, pgdata: string): void {
  const major = majorOf(summary.serverVersion);
  if (major !== facts.major) {
    throw new BackupError('LABEL_MISMATCH', `Backup ${summary.id} is of PostgreSQL ${major}, but ${pgdata} holds PostgreSQL ${facts.major}: this is not its data copy.`, {
      details: { summaryMajor: major, dataMajor: facts.major },
    });
  }
  if (summary.systemIdentifier !== facts.systemIdentifier) {
    throw new BackupError(
      'LABEL_MISMATCH',
      `Backup ${summary.id} was taken from the cluster with system identifier ${summary.systemIdentifier}, but ${pgdata} belongs to ${facts.systemIdentifier}: this is not its data copy.`,
      { details: { summarySystemIdentifier: summary.systemIdentifier, dataSystemIdentifier: facts.systemIdentifier } },
    );
  }
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

async function relinkTablespaces(pgdata: string, links: { oid: string; path: string }[], own: (p: string) => Promise<void>): Promise<void> {
  const dir = join(pgdata, 'pg_tblspc');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const { oid, path } of links) {
    const link = join(dir, oid);
    const current = await lstat(link).catch(() => undefined);
    if (current?.isSymbolicLink() && (await readlink(link)) === path) continue;
    if (current) await rm(link, { recursive: true, force: true });
    await symlink(path, link);
    await own(link).catch(() => undefined);
  }
}

