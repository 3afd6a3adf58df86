import { backupInfo, type BackupInfoReport, openStore, openWalArchive, type RecoverableWindow } from '../../index.js';
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

export const info: Command = {
  name: 'info',
  summary: 'every backup in a store, and with an archive what can be restored (the recoverable window)',
  usage: 'pg-split-backup info --store URL [--wal-archive URL] [--json]',
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
${ENCRYPTION_HELP}`,
  options: { ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS, store: { type: 'string' }, 'wal-archive': { type: 'string' } },
  async run(values) {
    const encryption = await encryptionOption(values);
    const store = await openStore(required(values, 'store'), encryption);
    const archiveUrl = text(values, 'wal-archive');
    const report = await backupInfo({ store, ...(archiveUrl !== undefined ? { walArchive: await openWalArchive(archiveUrl, encryption) } : {}) });
    return { json: { ok: true, ...report }, text: infoText(report) };
  },
};
