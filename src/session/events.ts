import type { BackupError } from '../errors.js';
import type { SinkReceipt } from '../sinks/contract.js';
import type { BackupSummary } from '../summary/summary.js';

/**
 * A session's life: `idle → starting → running → stopping → stopped`; `aborted` after
 * {@link BackupSession.abort}; `failed` when the server session is lost or start/stop fails.
 */
export type SessionState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'aborted' | 'failed';

/** What {@link BackupSession.start} resolves to once the server has started the backup. */
export interface StartResult {
  /** The backup ID (= label). */
  readonly id: string;
  /** Redo LSN of the backup checkpoint. */
  readonly startLsn: string;
  /** WAL file holding the start LSN. */
  readonly startWalFile: string;
  /** Timeline of the backup checkpoint. */
  readonly timeline: number;
  /** `server_version_num`. */
  readonly serverVersion: number;
  /** `pg_control_system().system_identifier`, decimal. */
  readonly systemIdentifier: string;
  /** True when the server was in recovery (a standby). */
  readonly fromStandby: boolean;
  /** ISO 8601. */
  readonly startedAt: string;
}

/** What {@link BackupSession.stop} resolves to: the summary and where it was saved. */
export interface StopResult {
  /** What stop returned, with the facts restore needs. */
  readonly summary: BackupSummary;
  /** One receipt per sink, in the order of the `sinks` option. */
  readonly receipts: readonly SinkReceipt[];
}

/** Every event a {@link BackupSession} emits, with its one payload object. */
export interface BackupSessionEvents {
  /** Any state change. */
  state: (event: { readonly from: SessionState; readonly to: SessionState }) => void;
  /** The server started the backup. */
  started: (event: StartResult) => void;
  /** A heartbeat query came back. */
  heartbeat: (event: { readonly at: string; readonly latencyMs: number }) => void;
  /** The held session is gone (connection lost, server restarted, max hold reached): the backup is invalid. */
  lost: (event: { readonly reason: string; readonly error: BackupError }) => void;
  /** The summary is persisted in the local spool. */
  spooled: (event: { readonly path: string }) => void;
  /** A sink write failed and will be retried. */
  'sink-retry': (event: { readonly sink: string; readonly attempt: number; readonly retriesLeft: number; readonly error: Error }) => void;
  /** A sink holds the summary. */
  'sink-written': (event: { readonly sink: string; readonly receipt: SinkReceipt }) => void;
  /**
   * Progress while the server runs the start's checkpoint, once a second (a spread checkpoint,
   * without `fast`, can take minutes).
   */
  'waiting-for-checkpoint': (event: { readonly elapsedMs: number; readonly fast: boolean }) => void;
  /** Progress while waiting for the server to archive the backup's last WAL file. */
  'waiting-for-archive': (event: {
    readonly walFile: string;
    readonly elapsedMs: number;
    readonly lastArchivedWal: string | null;
    readonly lastFailedWal: string | null;
  }) => void;
  /** Something worth a user's attention that does not fail the backup. */
  warning: (event: { readonly message: string }) => void;
  /** The backup finished and every sink holds its summary. */
  stopped: (event: StopResult) => void;
  /** The backup was aborted on request. */
  aborted: (event: { readonly reason: string }) => void;
  /** A failure; the promise of the call that failed rejects with the same error. */
  error: (event: { readonly error: BackupError }) => void;
}
