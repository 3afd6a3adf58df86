import { type ArchivePushQueue, type ArchiverState, BackupError, backupInfo, type BackupInfoReport, readArchiverStatus, infoMetrics, infoMetricsDown, isBackupError, openStore, openWalArchive, readArchivePushQueue, type RecoverableWindow } from '../../index.js';
import { parseDuration } from '../duration.js';
import { COMMON_OPTIONS, lines, required, text, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption } from '../encryption-flags.js';
import { formatBytes } from './lifecycle-kit.js';

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (row: string[]): string => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [format(header), ...rows.map(format)];
}

function windowText(window: RecoverableWindow | null | undefined): string[] {
  if (window === undefined) return [];
  if (window === null) return ['  recoverable window: none (no backup has all the WAL it needs)'];
  const to = window.to;
  return [
    `  recoverable window: from ${window.fromLsn} (${window.fromTime}, end of backup ${window.fromBackup})`,
    `                      to   ${to.lsn} on timeline ${to.timeline} (end of ${to.walFile}${to.archivedAt ? `, archived ${to.archivedAt}` : ''})`,
    ...(window.cutBy ? [`  WARNING: the window is cut by a gap: ${window.cutBy} is missing, so the WAL archived after it cannot be replayed`] : []),
  ];
}

function infoText(report: BackupInfoReport): string {
  const out: string[] = [`store ${report.store}${report.archive ? `, WAL archive ${report.archive.name}` : ''}`];
  if (report.clusters.length === 0) out.push('no backups');
  for (const cluster of report.clusters) {
    const versions = [...new Set(cluster.backups.map((b) => b.serverVersion))].join(', ');
    out.push('', `cluster ${cluster.systemIdentifier} (server_version_num ${versions}), ${cluster.backups.length} backups, oldest first:`);
    const rows = cluster.backups.map((b) => [
      b.id,
      b.startedAt,
      b.stoppedAt,
      `${b.startLsn} (${b.startWalFile})`,
      `${b.stopLsn} (${b.stopWalFile})`,
      String(b.timeline),
      b.backupFrom,
      b.selfContained ? 'yes' : 'no',
      formatBytes(b.summarySize),
      b.wal === undefined ? '-' : b.wal.complete ? 'complete' : b.wal.missing.length ? `MISSING ${b.wal.missing.length}` : `pending ${b.wal.pending.length}`,
      // Where it can be restored to: timeline (to end LSN), restore's default starred.
      b.timelines === undefined ? '-' : b.timelines.length === 0 ? 'none' : b.timelines.map((t) => `${t.timeline}${t.chosen ? '*' : ''} (to ${t.endLsn})`).join(', '),
    ]);
    out.push(...table(['ID', 'STARTED', 'STOPPED', 'START LSN (WAL)', 'STOP LSN (WAL)', 'TLI', 'FROM', 'SELF-CONTAINED', 'SUMMARY', 'WAL', 'RESTORES ONTO (* default)'], rows).map((l) => `  ${l}`));
    out.push(...windowText(cluster.window));
  }
  for (const u of report.unreadable) out.push(`UNREADABLE summary ${u.id}: ${u.reason}`);
  if (report.archive) {
    out.push('', `WAL archive: ${formatBytes(report.archive.bytes)}${report.archive.other.length ? `, ${report.archive.other.length} files that are not WAL` : ''}`);
    const rows = report.archive.timelines.map((t) => [
      String(t.timeline),
      t.firstSegment || '-',
      t.lastSegment || '-',
      String(t.segments),
      formatBytes(t.bytes),
      t.gaps.length === 0 ? 'none' : t.gaps.map((g) => (g.count === 1 ? g.from : `${g.from}..${g.to} (${g.count})`)).join(', '),
      t.historyFile ?? (t.timeline === 1 ? '-' : 'MISSING'),
    ]);
    out.push(...table(['TLI', 'FIRST', 'LAST', 'SEGMENTS', 'SIZE', 'GAPS', 'HISTORY'], rows).map((l) => `  ${l}`));
  }
  return lines(...out);
}

/** Bad input still fails (exit 2): only a store or archive that does not answer becomes pgsb_up 0. */
const USAGE_CODES = new Set(['INVALID_OPTION', 'INVALID_URL', 'KEY_FILE_INSECURE', 'INVALID_KEY']);

/** `read` with an AbortSignal that fires after `timeoutMs`; rejects with ABORTED then even if `read` ignores the signal. */
async function withDeadline<T>(read: (signal: AbortSignal | undefined) => Promise<T>, timeoutMs: number | undefined): Promise<T> {
  if (timeoutMs === undefined) return read(undefined);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new BackupError('ABORTED', `info did not finish within ${timeoutMs} ms (--timeout).`, { details: { timeoutMs } });
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([read(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export const info: Command = {
  name: 'info',
  summary: 'every backup in a store, and with an archive what can be restored (the recoverable window)',
  usage: 'pg-split-backup info --store URL [--wal-archive URL] [--format text|prometheus [--dbname URI] [--data-directory DIR [--spool-dir DIR]]] [--timeout D] [--json]',
  details: `Lists every backup in the store oldest first, per cluster (system identifier): ID, start and stop
time, LSN and WAL file, timeline, server version, primary or standby, self-contained (--include-wal)
or not, summary size. With --wal-archive: whether each backup's WAL is all there (as verify), the
timelines it can be restored onto (after a point-in-time recovery forked the history: its own, and
each later one that left it after the backup ends), each to the end of its contiguous WAL, the
archive per timeline (first and last segment, gaps, history file), and the recoverable window: from
the earliest backup that restores to the last contiguous archived segment, saying when a gap cuts
it. One listing of the store and one of the archive; the summaries are read in parallel.

  --store URL         file:///abs/dir, /abs/dir or s3://bucket/prefix[?...]
  --wal-archive URL   the WAL archive (file:///dir, /dir or s3://bucket/prefix[?...])
  --format F          text (default) or prometheus: the text format of node_exporter's textfile
                      collector (gauges per cluster and timeline: last backup age, recoverable
                      window start and end, WAL gaps; pgsb_up); --json is the JSON report
  --dbname URI        prometheus: also the server's archiver (archive lag in segments, failures,
                      last archived), read from pg_stat_archiver; a server that does not answer
                      makes pgsb_up 0 as a store does
  --data-directory DIR
                      prometheus, on the database host: also the archive-push --async pusher's
                      queue, read without changing anything: files ready (pg_wal/archive_status),
                      stored ahead, still to push and the oldest one's age, failures the pusher
                      recorded, whether a pusher runs. Run as the data directory's owner; a
                      directory that cannot be read makes pgsb_up 0
  --spool-dir DIR     the pusher's spool as archive-push --async --spool-dir gives it (relative to
                      the data directory, or absolute; default pg_wal/pgsb-archive-push)
  --timeout D         give up after D (e.g. 30s): prometheus prints pgsb_up 0 (and exits 0, so
                      the file is replaced); text and JSON fail with ABORTED. Default: no limit
${ENCRYPTION_HELP}`,
  options: { ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS, store: { type: 'string' }, 'wal-archive': { type: 'string' }, format: { type: 'string' }, timeout: { type: 'string' }, dbname: { type: 'string' }, 'data-directory': { type: 'string' }, 'spool-dir': { type: 'string' } },
  async run(values) {
    const format = text(values, 'format') ?? 'text';
    if (format !== 'text' && format !== 'prometheus') throw new BackupError('INVALID_OPTION', `--format takes text or prometheus, got ${JSON.stringify(format)}.`, { details: { option: 'format' } });
    if (format === 'prometheus' && values.json === true) throw new BackupError('INVALID_OPTION', '--format prometheus and --json exclude each other.', { details: { option: 'format' } });
    const timeoutText = text(values, 'timeout');
    const timeoutMs = timeoutText === undefined ? undefined : parseDuration(timeoutText, 'timeout');
    const encryption = await encryptionOption(values);
    const storeUrl = required(values, 'store');
    const archiveUrl = text(values, 'wal-archive');
    const dbname = text(values, 'dbname');
    if (dbname !== undefined && format !== 'prometheus') throw new BackupError('INVALID_OPTION', '--dbname goes with --format prometheus.', { details: { option: 'dbname' } });
    const dataDirectory = text(values, 'data-directory');
    const spoolDirectory = text(values, 'spool-dir');
    if (spoolDirectory !== undefined && dataDirectory === undefined) throw new BackupError('INVALID_OPTION', '--spool-dir goes with --data-directory (it is relative to the data directory).', { details: { option: 'spool-dir' } });
    if (dataDirectory !== undefined && format !== 'prometheus') throw new BackupError('INVALID_OPTION', '--data-directory goes with --format prometheus.', { details: { option: 'data-directory' } });
    const startedAt = Date.now();
    const read = async (signal: AbortSignal | undefined): Promise<BackupInfoReport> => {
      const store = await openStore(storeUrl, encryption);
      const walArchive = archiveUrl !== undefined ? { walArchive: await openWalArchive(archiveUrl, encryption) } : {};
      return backupInfo({ store, ...walArchive, ...(signal ? { signal } : {}) });
    };
    let report: BackupInfoReport;
    let archiver: ArchiverState | undefined;
    let archivePush: ArchivePushQueue | undefined;
    try {
      [report, archiver, archivePush] = await withDeadline((signal) => {
        const call = signal ? { signal } : {};
        return Promise.all([
          read(signal),
          dbname === undefined ? undefined : readArchiverStatus(/^postgres(ql)?:\/\//.test(dbname) ? dbname : { database: dbname }, call),
          dataDirectory === undefined ? undefined : readArchivePushQueue(dataDirectory, { ...call, ...(spoolDirectory !== undefined ? { spoolDirectory } : {}) }),
        ]);
      }, timeoutMs);
    } catch (error) {
      // A textfile collector needs the file replaced with pgsb_up 0, not left stale.
      if (format !== 'prometheus' || (isBackupError(error) && USAGE_CODES.has(error.code))) throw error;
      return { json: {}, text: infoMetricsDown(isBackupError(error) ? error.code : 'ERROR', { durationMs: Date.now() - startedAt }).trimEnd() };
    }
    if (format === 'prometheus') return { json: {}, text: infoMetrics(report, { durationMs: Date.now() - startedAt, ...(archiver ? { archiver } : {}), ...(archivePush ? { archivePush } : {}) }).trimEnd() };
    return { json: { ok: true, ...report }, text: infoText(report) };
  },
};
