import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseDuration } from '../duration.js';
import { BackupError, drill, drillMetrics, type DrillReport, isBackupError, openStore } from '../../index.js';
import { recoveryTargetFlags, RECOVERY_TARGET_OPTIONS, targetTimelineFlag, timelineLine } from '../restore-flags.js';
import { COMMON_OPTIONS, lines, required, requiredId, strings, text, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption, encryptionSettings } from '../encryption-flags.js';

export const drillCommand: Command = {
  name: 'drill',
  summary: 'prove a backup restores: restore a scratch copy privately, wait for consistency, run checks',
  usage:
    'pg-split-backup drill --id ID --store URL --pgdata COPY [--wal-archive URL | --restore-command CMD] [--target-time T | --target-lsn L | --target-name N | --target-xid X | --target immediate] [--target-timeline latest|current|N] [--check-sql SQL]... [--amcheck] [--bin-dir DIR] [--keep] [--in-place] [--timeout DURATION] [--json]',
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
  --target-timeline T     latest, current or N (as restore: by default chosen from the history files)
  --check-sql SQL         a query that must return one row whose first column is true (repeatable)
  --amcheck               check every btree index (pg_amcheck --all, or the amcheck extension);
                          skipped, and said so, when amcheck is not installed
  --bin-dir DIR           pg_ctl of the backup's major (default /usr/lib/postgresql/<major>/bin)
  --keep                  leave the scratch copy (its path is printed)
  --in-place              drill COPY itself (it is left restored and promoted)
  --timeout DURATION      how long recovery may take (default 10m)
  --metrics-file FILE     also write the outcome as Prometheus gauges (pgsb_drill_success, its time,
                          durations) to FILE, replaced atomically, pass or fail: a textfile for
                          node_exporter (alert on restores not drilled for days)
${ENCRYPTION_HELP}`,
  options: {
    ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS,
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
    'metrics-file': { type: 'string' },
  },
  async run(values, { progress }) {
    const id = requiredId(values);
    const pgdata = required(values, 'pgdata');
    if (!isAbsolute(pgdata)) throw new BackupError('INVALID_OPTION', `--pgdata must be an absolute path, got ${pgdata}.`, { details: { option: 'pgdata' } });
    const restoreCommand = text(values, 'restore-command');
    const archiveUrl = text(values, 'wal-archive');
    if (restoreCommand !== undefined && archiveUrl !== undefined) throw new BackupError('INVALID_OPTION', 'Give --restore-command or --wal-archive, not both.', { details: { option: 'wal-archive' } });
    const target = recoveryTargetFlags(values);
    const targetTimeline = targetTimelineFlag(values);
    const timeout = text(values, 'timeout');
    const store = await openStore(required(values, 'store'), await encryptionOption(values));
    let binDir = text(values, 'bin-dir');
    if (binDir === undefined) {
      const major = Math.floor((await store.get(id)).serverVersion / 10000);
      binDir = `/usr/lib/postgresql/${major}/bin`;
      if (!existsSync(join(binDir, 'pg_ctl'))) throw new BackupError('INVALID_OPTION', `No pg_ctl in ${binDir} for PostgreSQL ${major}: give --bin-dir.`, { details: { option: 'bin-dir' } });
    }
    const metricsFile = text(values, 'metrics-file');
    const writeMetrics = async (report: DrillReport | undefined, code?: string): Promise<void> => {
      if (metricsFile === undefined) return;
      // Through a temp file and a rename: the collector never reads half a file.
      const { writeFileDurable } = await import('../../util/durable-fs.js');
      await writeFileDurable(metricsFile, drillMetrics(id, report, code), 0o644);
    };
    const report = await drill({
      id,
      store,
      dataCopy: pgdata,
      binDir,
      ...encryptionSettings(values),
      ...(archiveUrl !== undefined ? { walArchive: archiveUrl } : {}),
      ...(restoreCommand !== undefined ? { restoreCommand } : {}),
      ...(target ? { target } : {}),
      ...(targetTimeline !== undefined ? { targetTimeline } : {}),
      checkSql: strings(values, 'check-sql'),
      amcheck: values.amcheck === true,
      keep: values.keep === true,
      inPlace: values['in-place'] === true,
      ...(timeout !== undefined ? { timeoutMs: parseDuration(timeout, 'timeout') } : {}),
      onProgress: (p) => progress.update({ phase: 'replay', message: p.message, elapsedMs: p.elapsedMs }),
    }).catch(async (error: unknown) => {
      await writeMetrics(undefined, isBackupError(error) ? error.code : 'ERROR');
      throw error;
    });
    await writeMetrics(report);
    const { log, ok: _ok, ...json } = report;
    const out = lines(
      `drill ${id}: ${report.ok ? 'PASSED' : 'FAILED'}`,
      `consistent at:       ${report.consistentAt ?? '(not seen in the log)'}`,
      `WAL files replayed:  ${report.walFilesReplayed}`,
      `timeline:            ${timelineLine(report.timeline)}${report.endTimeline !== undefined ? ` (promoted to timeline ${report.endTimeline})` : ''}`,
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
