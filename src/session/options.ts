import { BackupError } from '../errors.js';
import type { ConnectionConfig, ConnectionOptions } from '../postgres/connection-config.js';
import type { SummarySink } from '../sinks/contract.js';
import { defaultSpoolDirectory } from '../spool/spool.js';
import { assertBackupId } from '../summary/backup-id.js';

/** A log call the library makes instead of printing. */
export type Logger = (level: 'debug' | 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;

/** Options of a {@link BackupSession}. */
export interface BackupSessionOptions {
  /** The backup ID, also the backup label. 1-200 chars of `[A-Za-z0-9._-]`, not starting with `.` or `-`. */
  readonly id: string;
  /**
   * A `postgresql://` URI or a {@link ConnectionConfig} (a `pg` client configuration works as it is). PG* environment variables and `~/.pgpass`
   * fill in what it leaves out, as in `pg`/psql.
   */
  readonly connection: ConnectionOptions;
  /** Where the summary is written at stop. It counts as saved only when every sink has it. */
  readonly sinks: readonly SummarySink[];
  /**
   * Ask for an immediate checkpoint at start instead of a spread one.
   * @default false
   */
  readonly fast?: boolean;
  /**
   * After stop, wait until the WAL the backup needs has been archived.
   * @default true
   */
  readonly waitForArchive?: boolean;
  /**
   * How long to wait for archiving, in milliseconds, before rejecting with `ARCHIVE_TIMEOUT`.
   * @default 600000 (10 minutes)
   */
  readonly archiveTimeoutMs?: number;
  /** @deprecated The same as {@link BackupSessionOptions.archiveTimeoutMs} (milliseconds), under its older name. */
  readonly archiveTimeout?: number;
  /**
   * Interval of the heartbeat query that notices a lost session, in milliseconds (at least 100). A
   * heartbeat that gets no answer within this interval counts as a lost connection.
   * @default 10000
   */
  readonly heartbeatIntervalMs?: number;
  /** @deprecated The same as {@link BackupSessionOptions.heartbeatIntervalMs} (milliseconds), under its older name. */
  readonly heartbeatInterval?: number;
  /**
   * Longest time a backup may be held between start and stop, in milliseconds; past it the
   * session aborts the backup. `0` means no limit.
   * @default 0
   */
  readonly maxHoldMs?: number;
  /** @deprecated The same as {@link BackupSessionOptions.maxHoldMs} (milliseconds), under its older name. */
  readonly maxHold?: number;
  /**
   * Make the backup self-contained: a temporary physical replication slot keeps the server from
   * removing the backup's WAL, and at stop the segments from start to stop are read over SQL into
   * the summary (as `pg_wal/<segment>` attachments), so it restores with no WAL archive, like a
   * `pg_basebackup -X fetch` backup. Needs a role that may read files and create slots.
   * @default false
   */
  readonly includeWal?: boolean;
  /**
   * Refuse a primary whose WAL is not archived (`archive_mode=off` or no archive command).
   * @default true, or false with `includeWal`
   */
  readonly requireArchiving?: boolean;
  /**
   * Local directory where the summary is persisted (fsync + atomic rename) before any sink is
   * tried. Entries are removed once every sink holds them.
   * @default `$XDG_STATE_HOME/pg-split-backup/spool`, else `~/.local/state/pg-split-backup/spool`
   */
  readonly spoolDirectory?: string;
  /**
   * Retries of a failing sink write (with exponential backoff) before `SINK_FAILED`.
   * @default 5
   */
  readonly sinkRetries?: number;
  /**
   * Retries of a connection attempt that failed for a reason that can pass (refused, server starting).
   * @default 3
   */
  readonly connectRetries?: number;
  /** Aborts the backup when it fires. */
  readonly signal?: AbortSignal;
  /** Receives the library's log lines. The library never prints. */
  readonly logger?: Logger;
}

/** The options with every default filled in (durations under their older names, in milliseconds). */
export interface ResolvedOptions extends Required<Omit<BackupSessionOptions, 'signal' | 'logger' | 'archiveTimeoutMs' | 'heartbeatIntervalMs' | 'maxHoldMs'>> {
  readonly signal: AbortSignal | undefined;
  readonly logger: Logger | undefined;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new BackupError('INVALID_OPTION', `Option ${name} must be a non-negative number of milliseconds, got ${String(value)}.`, {
      details: { option: name },
    });
  }
  return value;
}

/** A duration given under its `...Ms` name or its deprecated older one (both: they must agree), with the name used, for messages. */
function duration(options: BackupSessionOptions, msName: 'archiveTimeoutMs' | 'heartbeatIntervalMs' | 'maxHoldMs', oldName: 'archiveTimeout' | 'heartbeatInterval' | 'maxHold', fallback: number): { value: number; name: string } {
  const ms = options[msName];
  const old = options[oldName];
  if (ms !== undefined && old !== undefined && ms !== old) {
    throw new BackupError('INVALID_OPTION', `Options ${msName} and ${oldName} (its deprecated older name) disagree: ${String(ms)} and ${String(old)}; give only ${msName}.`, {
      details: { option: msName },
    });
  }
  const name = ms !== undefined ? msName : oldName;
  return { value: nonNegative(name, ms ?? old, fallback), name };
}

/** Validates and freezes the options. Throws INVALID_ID / INVALID_OPTION; does no I/O. */
export function resolveOptions(options: BackupSessionOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new BackupError('INVALID_OPTION', 'BackupSession needs an options object.');
  assertBackupId(options.id);
  if (typeof options.connection !== 'string' && (typeof options.connection !== 'object' || options.connection === null)) {
    throw new BackupError('INVALID_OPTION', 'Option connection must be a connection string or a pg ClientConfig object.', {
      details: { option: 'connection' },
    });
  }
  if (!Array.isArray(options.sinks) || options.sinks.some((s) => typeof s?.write !== 'function')) {
    throw new BackupError('INVALID_OPTION', 'Option sinks must be an array of SummarySink objects (each with a write method).', {
      details: { option: 'sinks' },
    });
  }
  const heartbeat = duration(options, 'heartbeatIntervalMs', 'heartbeatInterval', 10_000);
  if (heartbeat.value < 100) {
    throw new BackupError('INVALID_OPTION', `Option ${heartbeat.name} must be at least 100 ms.`, { details: { option: heartbeat.name } });
  }
  return Object.freeze({
    id: options.id,
    connection: options.connection,
    sinks: Object.freeze([...options.sinks]),
    fast: options.fast ?? false,
    waitForArchive: options.waitForArchive ?? true,
    archiveTimeout: duration(options, 'archiveTimeoutMs', 'archiveTimeout', 600_000).value,
    heartbeatInterval: heartbeat.value,
    maxHold: duration(options, 'maxHoldMs', 'maxHold', 0).value,
    includeWal: options.includeWal ?? false,
    requireArchiving: options.requireArchiving ?? !(options.includeWal ?? false),
    spoolDirectory: options.spoolDirectory ?? defaultSpoolDirectory(),
    sinkRetries: nonNegative('sinkRetries', options.sinkRetries, 5),
    connectRetries: nonNegative('connectRetries', options.connectRetries, 3),
    signal: options.signal,
    logger: options.logger,
  });
}
