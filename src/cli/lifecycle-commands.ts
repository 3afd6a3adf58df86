// info, expire and drill: living with backups for months. Thin over backupInfo(), expire(), drill().
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseDuration } from './duration.js';
import { BackupError, backupInfo, type BackupInfoReport, drill, expire, type ExpiryPolicy, openStore, openWalArchive, type RecoverableWindow } from '../index.js';
import { recoveryTargetFlags, RECOVERY_TARGET_OPTIONS } from './restore-flags.js';
import { COMMON_OPTIONS, lines, required, requiredId, strings, text, type Command, type Values } from './command-kit.js';

/** `1.5 GiB`, `16 MiB`, `812 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

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
    ]);
    out.push(...table(['ID', 'STARTED', 'STOPPED', 'START LSN (WAL)', 'STOP LSN (WAL)', 'TLI', 'FROM', 'SELF-CONTAINED', 'SUMMARY', 'WAL'], rows).map((l) => `  ${l}`));
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

const info: Command = {
  name: 'info',
  summary: 'every backup in a store, and with an archive what can be restored (the recoverable window)',
  usage: 'pg-split-backup info --store URL [--wal-archive URL] [--json]',
  details: `Lists every backup in the store oldest first, per cluster (system identifier): ID, start and stop
time, LSN and WAL file, timeline, server version, primary or standby, self-contained (--include-wal)
or not, summary size. With --wal-archive: whether each backup's WAL is all there (as verify), the
archive per timeline (first and last segment, gaps, history file), and the recoverable window: from
the earliest backup that restores to the last contiguous archived segment, saying when a gap cuts
it. One listing of the store and one of the archive; the summaries are read in parallel.

  --store URL         file:///abs/dir, /abs/dir or s3://bucket/prefix[?...]
  --wal-archive URL   the WAL archive (file:///dir, /dir or s3://bucket/prefix[?...])`,
  options: { ...COMMON_OPTIONS, store: { type: 'string' }, 'wal-archive': { type: 'string' } },
  async run(values) {
    const store = await openStore(required(values, 'store'));
    const archiveUrl = text(values, 'wal-archive');
    const report = await backupInfo({ store, ...(archiveUrl !== undefined ? { walArchive: await openWalArchive(archiveUrl) } : {}) });
    return { json: { ok: true, ...report }, text: infoText(report) };
  },
};

/** `--keep-within`: a duration (30d, 12h, 2w; beyond parseDuration's 366 days for long retention). */
function keepWithin(value: string): number {
  const long = /^(\d+)(d|w)$/.exec(value.trim());
  if (long) return Number(long[1]) * (long[2] === 'w' ? 7 : 1) * 86_400_000;
  return parseDuration(value, 'keep-within');
}

function expiryPolicy(values: Values): ExpiryPolicy {
  const last = text(values, 'keep-last');
  const within = text(values, 'keep-within');
  const ids = strings(values, 'keep');
  const given = [last !== undefined && '--keep-last', within !== undefined && '--keep-within', ids.length > 0 && '--keep'].filter(Boolean);
  if (given.length !== 1) {
    throw new BackupError('INVALID_OPTION', `Give exactly one of --keep-last N, --keep-within DURATION or --keep ID..., got ${given.length === 0 ? 'none' : given.join(' and ')}.`, {
      details: { option: 'keep-last' },
    });
  }
  if (last !== undefined) {
    if (!/^\d+$/.test(last) || Number(last) < 1) throw new BackupError('INVALID_OPTION', `--keep-last takes a whole number of at least 1, got ${last}.`, { details: { option: 'keep-last' } });
    return { keepLast: Number(last) };
  }
  if (within !== undefined) return { keepWithinMs: keepWithin(within) };
  return { keepIds: ids };
}

const expireCommand: Command = {
  name: 'expire',
  summary: 'remove summaries outside a retention policy, then the WAL no kept backup needs',
  usage: 'pg-split-backup expire --store URL [--wal-archive URL] (--keep-last N | --keep-within DURATION | --keep ID...) [--dry-run] [--json]',
  details: `Applies one retention rule per cluster (the newest backup always stays); mirror your backup
program's retention of the data copies (docs/hooks.md). Summaries outside it are removed first,
then, with --wal-archive, the WAL no kept backup needs: each kept backup keeps its own range and
everything after its start on its timeline and the timelines that branch off it later (history
files), so point-in-time recovery from the oldest kept backup still works. No WAL is deleted when the
catalogue and the archive disagree (a gap in a kept backup's range, a missing history file, an
unreadable summary, several clusters in one store): exit 6 with the reasons. A backup posted while
expire runs is planned in before any WAL goes.

  --store URL             where the summaries are
  --wal-archive URL       the WAL archive to prune (file:///dir, /dir or s3://bucket/prefix[?...])
  --keep-last N           keep the N newest backups
  --keep-within DURATION  keep backups that stopped within DURATION (e.g. 36h, 30d, 8w)
  --keep ID               keep this backup (repeatable); the others go
  --dry-run               print exactly what would go, with sizes, and change nothing`,
  options: {
    ...COMMON_OPTIONS,
    store: { type: 'string' },
    'wal-archive': { type: 'string' },
    'keep-last': { type: 'string' },
    'keep-within': { type: 'string' },
    keep: { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
  },
  async run(values) {
    const policy = expiryPolicy(values);
    const store = await openStore(required(values, 'store'));
    const archiveUrl = text(values, 'wal-archive');
    const dryRun = values['dry-run'] === true;
    const report = await expire({ store, policy, dryRun, ...(archiveUrl !== undefined ? { walArchive: await openWalArchive(archiveUrl) } : {}) });
    const { plan } = report;
    const wal = plan.wal;
    const verb = dryRun ? 'would remove' : 'removed';
    const walFiles = dryRun ? (wal?.remove ?? []) : (wal?.remove ?? []).filter((f) => report.removedWal.includes(f.name));
    const out = lines(
      `${dryRun ? 'dry run: ' : ''}${plan.remove.length} of ${plan.remove.length + plan.keep.length} summaries ${verb}${wal ? `; WAL: ${walFiles.length} files (${formatBytes(walFiles.reduce((n, f) => n + f.size, 0))}) ${verb}, ${wal.keepCount} files (${formatBytes(wal.keepBytes)}) kept` : ''}`,
      ...plan.remove.map((r) => `${verb} summary ${r.id} (${formatBytes(r.summarySize)})`),
      ...walFiles.map((f) => `${verb} WAL ${f.name} (${formatBytes(f.size)})`),
      ...plan.keep.map((k) => `kept summary ${k.id} (${k.reason})`),
      ...(wal?.pending.length ? [`not archived yet (kept backups need them): ${wal.pending.join(', ')}`] : []),
      ...(report.appeared.length ? [`appeared while expiring, their WAL spared: ${report.appeared.join(', ')}`] : []),
      ...report.staleTempFiles.map((name) => `${verb} ${name} (a crashed archive-push's temp file)`),
    );
    if (wal && wal.refused.length > 0) {
      throw new BackupError(
        'ARCHIVE_MISMATCH',
        `${dryRun ? 'Would delete' : 'Deleted'} no WAL: the catalogue and the WAL archive disagree:\n${wal.refused.map((r) => `  - ${r}`).join('\n')}\n${out}\nFix the archive or the store (or expire without --wal-archive) and run expire again.`,
        { details: { refused: wal.refused, removedSummaries: report.removedSummaries, dryRun } },
      );
    }
    return { json: { ok: true, ...report }, text: out };
  },
};

const drillCommand: Command = {
  name: 'drill',
  summary: 'prove a backup restores: restore a scratch copy privately, wait for consistency, run checks',
  usage:
    'pg-split-backup drill --id ID --store URL --pgdata COPY [--wal-archive URL | --restore-command CMD] [--target-time T | --target-lsn L | --target-name N | --target-xid X | --target immediate] [--check-sql SQL]... [--amcheck] [--bin-dir DIR] [--keep] [--in-place] [--timeout DURATION] [--json]',
  details: `Copies COPY (the data copy as your backup program restored it) to a scratch directory, or with
--in-place uses it as it is, installs the summary (as restore), and starts a private server: Unix
socket in a private directory on a free port, no TCP, archive_mode=off, so it never writes into the
production archive. It waits for consistency and the end of recovery (promotion), runs the checks,
stops the server and removes the scratch copy (unless --keep). Safe from cron next to production.
Reports the consistent-at LSN, WAL files replayed, time to consistency, and each check. Exit 0 only
when recovery ended and every check passed; exit 7 (DRILL_FAILED) otherwise.

  --id ID                 the backup ID
  --store URL             where its summary is
  --pgdata COPY           the restored data copy (absolute); never changed without --in-place
  --wal-archive URL       the WAL archive (/dir, file:///dir or s3://...): cp or archive-get, as restore
  --restore-command CMD   the restore_command recovery uses
  --target-...            stop recovery there, then promote (as restore)
  --check-sql SQL         a query that must return one row whose first column is true (repeatable)
  --amcheck               check every btree index (pg_amcheck --all, or the amcheck extension);
                          skipped, and said so, when amcheck is not installed
  --bin-dir DIR           pg_ctl of the backup's major (default /usr/lib/postgresql/<major>/bin)
  --keep                  leave the scratch copy (its path is printed)
  --in-place              drill COPY itself (it is left restored and promoted)
  --timeout DURATION      how long recovery may take (default 10m)`,
  options: {
    ...COMMON_OPTIONS,
    id: { type: 'string' },
    store: { type: 'string' },
    pgdata: { type: 'string' },
    'wal-archive': { type: 'string' },
    'restore-command': { type: 'string' },
    ...RECOVERY_TARGET_OPTIONS,
    'check-sql': { type: 'string', multiple: true },
    amcheck: { type: 'boolean' },
    'bin-dir': { type: 'string' },
    keep: { type: 'boolean' },
    'in-place': { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run(values, { progress }) {
    const id = requiredId(values);
    const pgdata = required(values, 'pgdata');
    if (!isAbsolute(pgdata)) throw new BackupError('INVALID_OPTION', `--pgdata must be an absolute path, got ${pgdata}.`, { details: { option: 'pgdata' } });
    const restoreCommand = text(values, 'restore-command');
    const archiveUrl = text(values, 'wal-archive');
    if (restoreCommand !== undefined && archiveUrl !== undefined) throw new BackupError('INVALID_OPTION', 'Give --restore-command or --wal-archive, not both.', { details: { option: 'wal-archive' } });
    const target = recoveryTargetFlags(values);
    const timeout = text(values, 'timeout');
    const store = await openStore(required(values, 'store'));
    let binDir = text(values, 'bin-dir');
    if (binDir === undefined) {
      const major = Math.floor((await store.get(id)).serverVersion / 10000);
      binDir = `/usr/lib/postgresql/${major}/bin`;
      if (!existsSync(join(binDir, 'pg_ctl'))) throw new BackupError('INVALID_OPTION', `No pg_ctl in ${binDir} for PostgreSQL ${major}: give --bin-dir.`, { details: { option: 'bin-dir' } });
    }
    const report = await drill({
      id,
      store,
      dataCopy: pgdata,
      binDir,
      ...(archiveUrl !== undefined ? { walArchive: archiveUrl } : {}),
      ...(restoreCommand !== undefined ? { restoreCommand } : {}),
      ...(target ? { target } : {}),
      checkSql: strings(values, 'check-sql'),
      amcheck: values.amcheck === true,
      keep: values.keep === true,
      inPlace: values['in-place'] === true,
      ...(timeout !== undefined ? { timeoutMs: parseDuration(timeout, 'timeout') } : {}),
      onProgress: (p) => progress.update({ phase: 'replay', message: p.message, elapsedMs: p.elapsedMs }),
    });
    const { log, ok: _ok, ...json } = report;
    const out = lines(
      `drill ${id}: ${report.ok ? 'PASSED' : 'FAILED'}`,
      `consistent at:       ${report.consistentAt ?? '(not seen in the log)'}`,
      `WAL files replayed:  ${report.walFilesReplayed}`,
      `time to consistency: ${(report.consistencyMs / 1000).toFixed(1)} s (recovery ended after ${(report.recoveryMs / 1000).toFixed(1)} s, ${(report.totalMs / 1000).toFixed(1)} s in all)`,
      ...report.checks.map((c) => `check ${c.name}: ${c.skipped ? 'skipped' : c.ok ? 'ok' : 'FAILED'} (${c.detail})`),
      report.kept ? `data directory left at ${report.pgdata}` : undefined,
    );
    if (!report.ok) {
      throw new BackupError('DRILL_FAILED', `${out}\n--- server log (end)\n${log.slice(-1500)}`, { details: { ok: false, ...json } });
    }
    return { json: { ok: true, ...json }, text: out };
  },
};

/** The lifecycle commands. */
export const LIFECYCLE_COMMANDS: readonly Command[] = [info, expireCommand, drillCommand];
