import { abortBackup, DEFAULT_MAX_HOLD_MS, listRunning, resolveRuntimeDir, startBackup, stopBackup } from '../agent/index.js';
import { BackupError, summaryOverview } from '../index.js';
import { formatDuration, parseDuration } from './duration.js';
import { isAbsolute } from 'node:path';
import { openStore, resendSpooled } from '../index.js';
import { COMMON_OPTIONS, lines, optionalId, required, requiredId, strings, text, type Command, type Values } from './command-kit.js';
import { EXIT_CODE_HELP } from './exit-codes.js';
import { ARCHIVE_COMMANDS } from './archive-commands.js';
import { RESTORE_COMMANDS } from './restore-commands.js';
import { LIFECYCLE_COMMANDS } from './lifecycle-commands.js';

const COMMON_HELP = `  --runtime-dir DIR  sockets, locks, logs and records of running backups (default: env
                     PG_SPLIT_BACKUP_RUNTIME_DIR, else $XDG_RUNTIME_DIR/pg-split-backup, else
                     /tmp/pg-split-backup-<uid>; created 0700, refused if not yours alone)
  --json             print exactly one JSON object on stdout (errors too)
  --verbose          show every wait on stderr (not only long ones); pre: the holder logs at
                     debug level too (as with PGSB_DEBUG=1 or DEBUG=pg-split-backup)
  --help             this help`;

export { COMMON_OPTIONS, lines, required, strings, text } from './command-kit.js';
export type { Command, CommandResult, Values } from './command-kit.js';

function runtimeDir(values: Values): string {
  return resolveRuntimeDir(text(values, 'runtime-dir'));
}


const pre: Command = {
  name: 'pre',
  summary: 'start a backup and hold it open (the pre-backup hook)',
  usage: 'pg-split-backup pre --id ID --sink URL [--sink URL]... [--dbname CONNSTR] [--fast] [--max-hold DURATION] [--no-wait-archive] [--archive-timeout DURATION] [--heartbeat DURATION] [--include-wal] [--json]',
  details: `Starts a detached holder process that runs pg_backup_start (pg_start_backup before 15) in its
own server session and keeps that session open until post. Exits 0 once the server confirmed the
start, printing the ID, start LSN and start WAL file. Copy the data directory after that.

  --id ID               the backup ID, also the backup label: 1-200 of A-Z a-z 0-9 . _ -
  --sink URL            where post saves the summary (repeatable; at least one):
                        file:///abs/dir, /abs/dir, s3://bucket/prefix[?endpoint=..&region=..&forcePathStyle=true]
  --dbname CONNSTR      a postgresql:// URI or a database name; otherwise PG* variables and ~/.pgpass
  --fast                request an immediate checkpoint instead of a spread one
  --max-hold DURATION   abort the backup if post has not come after this long (e.g. 90m, 24h, 1d;
                        0 = no limit; default 24h)
  --no-wait-archive     at post, do not wait for the last WAL file to be archived
  --archive-timeout DURATION
                        at post, how long to wait for that WAL file before failing with
                        ARCHIVE_TIMEOUT (exit 1; the summary is saved all the same; default 10m)
  --heartbeat DURATION  how often the holder checks its server session; a check unanswered for
                        this long counts as a lost session (default 10s, at least 100ms)
  --include-wal         ship the backup's WAL in its summary (a temporary replication slot holds it
                        until post), so it restores with no WAL archive; needs a role that may read
                        files (11+: EXECUTE on pg_read_binary_file; 10: superuser) and create slots`,
  options: {
    ...COMMON_OPTIONS,
    id: { type: 'string' },
    sink: { type: 'string', multiple: true },
    dbname: { type: 'string' },
    fast: { type: 'boolean' },
    'max-hold': { type: 'string' },
    'no-wait-archive': { type: 'boolean' },
    'archive-timeout': { type: 'string' },
    heartbeat: { type: 'string' },
    'include-wal': { type: 'boolean' },
  },
  async run(values, { progress, verbose }) {
    const id = requiredId(values);
    const maxHold = text(values, 'max-hold');
    const archiveTimeout = text(values, 'archive-timeout');
    const heartbeat = text(values, 'heartbeat');
    const dbname = text(values, 'dbname');
    const backup = await startBackup({
      id,
      sinks: strings(values, 'sink'),
      ...(dbname !== undefined ? { dbname } : {}),
      fast: values.fast === true,
      maxHoldMs: maxHold === undefined ? DEFAULT_MAX_HOLD_MS : parseDuration(maxHold, 'max-hold'),
      waitForArchive: values['no-wait-archive'] !== true,
      includeWal: values['include-wal'] === true,
      ...(archiveTimeout !== undefined ? { archiveTimeoutMs: parseDuration(archiveTimeout, 'archive-timeout') } : {}),
      ...(heartbeat !== undefined ? { heartbeatIntervalMs: parseDuration(heartbeat, 'heartbeat') } : {}),
      runtimeDir: runtimeDir(values),
      debug: verbose,
      onProgress: (update) => progress.update(update),
    });
    if (verbose) progress.note(`holder pid ${backup.pid} holds backup ${backup.id}; its log: ${backup.log}`);
    return {
      json: { ok: true, ...backup },
      text: lines(
        `backup ${backup.id} started`,
        `start LSN:      ${backup.startLsn}`,
        `start WAL file: ${backup.startWalFile}`,
        `holder pid:     ${backup.pid} (log: ${backup.log})`,
        `max hold:       ${backup.maxHoldMs === 0 ? 'none' : formatDuration(backup.maxHoldMs)}`,
      ),
    };
  },
};

const post: Command = {
  name: 'post',
  summary: 'stop the backup and save its summary to every sink (the post-backup hook)',
  usage: 'pg-split-backup post --id ID [--json]',
  details: `Asks the holder to stop the backup in the session that started it. The summary (backup_label,
tablespace_map, LSNs, WAL range) is persisted to the local spool, then written to every sink; then
post waits until the backup's last WAL file is archived (unless pre had --no-wait-archive). Exits 0
only if every sink holds the summary. Run it again after a failure: a stopped backup is reported
again, and a summary an earlier post left in the spool (exit 4) is delivered to the sinks that
miss it (exit 0 once every sink holds it).

  --id ID   the ID given to pre`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' } },
  async run(values, { progress, stderr }) {
    const id = requiredId(values);
    // Ctrl-C (or a backup program's timeout) ends only this client: the holder goes on with the
    // stop, and a second post reports it. Say so, rather than die silently with 130.
    const interrupted = (signal: NodeJS.Signals): void => {
      progress.end();
      stderr(
        `pg-split-backup post: interrupted by ${signal}. The stop goes on in the holder, which saves the summary to the spool and the sinks; run "pg-split-backup post --id ${id}" again to wait for it and see where the summary is. Until then this backup is not known to be good.\n`,
      );
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    const outcome = await stopBackup(id, { runtimeDir: runtimeDir(values), onProgress: (update) => progress.update(update) }).finally(() => {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
    });
    const { summary } = outcome;
    return {
      json: {
        ok: true,
        id,
        alreadyStopped: outcome.alreadyStopped,
        ...(outcome.deliveredFromSpool ? { deliveredFromSpool: true } : {}),
        startLsn: summary.startLsn,
        stopLsn: summary.stopLsn,
        startWalFile: summary.startWalFile,
        stopWalFile: summary.stopWalFile,
        timeline: summary.timeline,
        locations: outcome.locations,
        ...(outcome.receipts ? { receipts: outcome.receipts } : {}),
        summary: summaryOverview(summary),
      },
      text: lines(
        outcome.alreadyStopped ? `backup ${id} had already been stopped (at ${summary.stoppedAt})` : `backup ${id} stopped at ${summary.stopLsn}`,
        outcome.deliveredFromSpool === true && 'its summary, kept in the spool by an earlier post, is now delivered',
        `WAL needed:     ${summary.startWalFile} .. ${summary.stopWalFile} (timeline ${summary.timeline})`,
        'summary saved to:',
        ...outcome.locations.map((l) => `  ${l}`),
      ),
    };
  },
};

const abort: Command = {
  name: 'abort',
  summary: 'end a running backup without a summary',
  usage: 'pg-split-backup abort --id ID [--json]',
  details: `Ends the backup's server session; the server discards the backup. Exit 3 when no backup with
this ID is running.

  --id ID   the ID given to pre`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' } },
  async run(values) {
    const id = requiredId(values);
    const result = await abortBackup(id, { runtimeDir: runtimeDir(values) });
    return { json: { ok: true, id, state: 'aborted', reason: result.reason }, text: `backup ${id} aborted` };
  },
};

const status: Command = {
  name: 'status',
  summary: 'list the running backups',
  usage: 'pg-split-backup status [--id ID] [--json]',
  details: `Lists the backups held in the runtime directory: ID, holder pid, start LSN, start time, how
long it has been held. With --id, only that backup; exit 3 (with the reason) if it is not running.

  --id ID   show only this backup`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' } },
  async run(values) {
    const id = optionalId(values);
    const backups = await listRunning({ runtimeDir: runtimeDir(values), ...(id !== undefined ? { id } : {}) });
    const rows = backups.map((b) => [b.id, String(b.pid), b.state, b.startLsn, b.startedAt, formatDuration(b.heldForMs)]);
    const header = ['ID', 'PID', 'STATE', 'START LSN', 'STARTED AT', 'HELD FOR'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const format = (row: string[]): string => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
    return {
      json: { ok: true, backups },
      text: backups.length === 0 ? 'no backups running' : lines(format(header), ...rows.map(format)),
    };
  },
};

const list: Command = {
  name: 'list',
  summary: 'list the summaries in a store',
  usage: 'pg-split-backup list --store URL [--json]',
  details: `Lists the IDs of the complete summaries in a store (a sink URL as given to pre).

  --store URL   file:///abs/dir, /abs/dir or s3://bucket/prefix[?...]`,
  options: { ...COMMON_OPTIONS, store: { type: 'string' } },
  async run(values) {
    const store = await openStore(required(values, 'store'));
    const ids = await store.list();
    return { json: { ok: true, store: store.name, ids }, text: ids.join('\n') };
  },
};

const show: Command = {
  name: 'show',
  summary: 'show one summary from a store, checksums verified',
  usage: 'pg-split-backup show --id ID --store URL [--json]',
  details: `Reads a backup's summary from a store and verifies its checksums (exit 2, CORRUPT_SUMMARY, when
they fail; exit 3 when the store has no summary with that ID).

  --id ID       the backup ID
  --store URL   file:///abs/dir, /abs/dir or s3://bucket/prefix[?...]`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' }, store: { type: 'string' } },
  async run(values) {
    const id = requiredId(values);
    const store = await openStore(required(values, 'store'));
    const summary = await store.get(id);
    return {
      json: { ok: true, store: store.name, summary: summaryOverview(summary) },
      text: lines(
        `backup ${summary.id} (${store.name})`,
        `server version: ${summary.serverVersion}, system identifier ${summary.systemIdentifier}, from ${summary.backupFrom}`,
        `started:        ${summary.startedAt} at ${summary.startLsn}`,
        `stopped:        ${summary.stoppedAt} at ${summary.stopLsn}`,
        `WAL needed:     ${summary.startWalFile} .. ${summary.stopWalFile} (timeline ${summary.timeline}, ${summary.walSegmentSize / 1048576} MiB segments)`,
        `tablespaces:    ${summary.tablespaceMap === '' ? 'none' : summary.tablespaceMap.trimEnd().split('\n').length}`,
        '--- backup_label',
        summary.labelFile.trimEnd(),
        ...(summary.tablespaceMap === '' ? [] : ['--- tablespace_map', summary.tablespaceMap.trimEnd()]),
      ),
    };
  },
};

const resend: Command = {
  name: 'resend',
  summary: 'deliver summaries left in the local spool to their sinks',
  usage: 'pg-split-backup resend --sink URL [--sink URL]... [--id ID] [--spool-dir DIR] [--json]',
  details: `A post that exits 4 keeps the summary in the local spool. "post" again delivers it while the
runtime directory still has the backup's record; resend does it without one (after a reboot
emptied a tmpfs runtime directory, or for a library user's spool). Each summary is read back with
its checksums, written to every sink (the same summary already there counts as delivered), then
removed from the spool. Exit 0 when every summary reached every sink, 4 when one did not (it stays
in the spool), 3 when --id is not in the spool.

  --sink URL        where the summaries go (repeatable; at least one)
  --id ID           only this backup (default: every summary in the spool)
  --spool-dir DIR   the spool (default: $XDG_STATE_HOME/pg-split-backup/spool, else
                    ~/.local/state/pg-split-backup/spool)`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' }, sink: { type: 'string', multiple: true }, 'spool-dir': { type: 'string' } },
  async run(values) {
    const id = optionalId(values);
    const urls = strings(values, 'sink');
    if (urls.length === 0) throw new BackupError('INVALID_OPTION', 'Give at least one --sink URL: where the summaries go.', { details: { option: 'sink' } });
    const spoolDir = text(values, 'spool-dir');
    if (spoolDir !== undefined && !isAbsolute(spoolDir)) {
      throw new BackupError('INVALID_OPTION', `--spool-dir must be an absolute path, got ${spoolDir}.`, { details: { option: 'spool-dir' } });
    }
    const sinks = await Promise.all(urls.map((url) => openStore(url)));
    const { spoolDirectory, delivered } = await resendSpooled({ sinks, ...(spoolDir === undefined ? {} : { spoolDirectory: spoolDir }), ...(id === undefined ? {} : { id }) });
    return {
      json: { ok: true, spoolDirectory, delivered },
      text: delivered.length === 0 ? `the spool ${spoolDirectory} holds no summaries` : lines(...delivered.map((d) => `${d.id} delivered to ${d.locations.join(', ')}`)),
    };
  },
};

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [pre, post, abort, status, list, show, resend, ...RESTORE_COMMANDS, ...LIFECYCLE_COMMANDS, ...ARCHIVE_COMMANDS];

/** `pg-split-backup <command> --help`. */
export function commandHelp(command: Command): string {
  return `${command.name}: ${command.summary}

Usage: ${command.usage}

${command.details}
${COMMON_HELP}

${EXIT_CODE_HELP}
`;
}

/** `pg-split-backup --help`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `pg-split-backup: consistent PostgreSQL base backups from any backup program's pre/post hooks

Usage: pg-split-backup <command> [options]     (pg-split-backup <command> --help for details)

${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

A backup program runs "pre" before it copies the data directory and "post" after; see docs/hooks.md.

${EXIT_CODE_HELP}
`;
}
