import type { DrillReport } from '../restore/drill.js';
import { MetricsText } from './metrics-text.js';

/** Options of {@link drillMetrics}. */
export interface DrillMetricsOptions {
  /** When the drill ended. @default now */
  readonly now?: Date;
}

/**
 * A drill's outcome as Prometheus gauges for node_exporter's textfile collector (`drill
 * --metrics-file`): success, when it ran, how long recovery took, what it replayed. Alert on
 * `pgsb_drill_success == 0` and on `time() - pgsb_drill_timestamp_seconds` (restores untested).
 * `report` is `undefined` when the drill failed before it had one; `errorCode` then says why.
 */
export function drillMetrics(id: string, report: DrillReport | undefined, errorCode?: string, options: DrillMetricsOptions = {}): string {
  const metrics = new MetricsText();
  const labels = { id };
  const ok = report?.ok === true && errorCode === undefined;
  metrics.gauge('pgsb_drill_success', '1 when the last drill restored the backup to consistency, promoted it and passed every check.', ok ? 1 : 0, labels);
  metrics.gauge('pgsb_drill_timestamp_seconds', 'When the last drill ended.', (options.now ?? new Date()).getTime() / 1000, labels);
  if (errorCode !== undefined) metrics.gauge('pgsb_drill_error_info', 'Why the last drill failed: its error code.', 1, { ...labels, code: errorCode });
  if (report !== undefined) {
    metrics.gauge('pgsb_drill_consistency_seconds', 'Time from the server start to a consistent recovery state.', report.consistencyMs / 1000, labels);
    metrics.gauge('pgsb_drill_duration_seconds', 'The whole drill: copy, recovery, checks.', report.totalMs / 1000, labels);
    metrics.gauge('pgsb_drill_wal_files_replayed', 'WAL files restore_command delivered.', report.walFilesReplayed, labels);
    metrics.gauge('pgsb_drill_checks_failed', 'Checks that failed.', report.checks.filter((c) => !c.ok && c.skipped !== true).length, labels);
  }
  return metrics.toString();
}
