import { DEFAULT_MAX_HOLD_MS, startBackup } from '../../agent/index.js';
import { formatDuration, parseDuration } from '../duration.js';
import { COMMON_OPTIONS, lines, requiredId, strings, text, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionSettings } from '../encryption-flags.js';
import { runtimeDir } from './hold-kit.js';

export const pre: Command = {
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
                        files (11+: EXECUTE on pg_read_binary_file; 10: superuser) and create slots
${ENCRYPTION_HELP}`,
  options: {
    ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS,
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
      ...encryptionSettings(values),
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
