// `check`: proves the whole chain on a running server, as pgBackRest's `check` and `barman check`
// do: the connection and its privileges, the settings, that archive_command (and a standby's
// restore_command) is ours and points at this archive, the store readable and writable, the
// store's and the archive's cluster, then a WAL switch whose segment is read back from the archive.
import type pg from 'pg';
import { BackupError, isBackupError } from '../errors.js';
import { readCheckSettings, switchWal } from '../postgres/check-queries.js';
import { closeClient } from '../postgres/held-backup.js';
import { connect } from '../postgres/connect.js';
import type { ConnectionOptions } from '../postgres/connection-config.js';
import { dialectFor } from '../postgres/dialect.js';
import { readServerInfo, type ServerInfo } from '../postgres/server-info.js';
import { findStoredWal } from '../restore/archive-get.js';
import { quoteForShell } from '../restore/archive-command-line.js';
import type { WalArchive } from '../restore/wal-archive.js';
import { decompressWal, storedWalName, WAL_COMPRESSIONS } from '../restore/wal-compression.js';
import type { CallOptions, LabelStore } from '../sinks/contract.js';
import { sleep } from '../util/abort.js';

/** Options of {@link checkChain}. */
export interface CheckOptions extends CallOptions {
  /** The server: a `postgresql://` URI, a database name (PG* env and ~/.pgpass fill in the rest), or a config object. */
  readonly connection: ConnectionOptions;
  /** The summary store the backups go to. */
  readonly store: LabelStore & {
    /** Writes, reads back and removes a probe object (never a summary); the shipped stores have it. */
    probeWrite?(options?: CallOptions): Promise<void>;
  };
  /** The WAL archive archive_command writes to (opened with its keys, when encrypted). */
  readonly walArchive: WalArchive;
  /** The archive's URL as archive_command names it, to check the command points at it. */
  readonly walArchiveUrl?: string;
  /** How long to wait for the switched segment to reach the archive, ms. @default 60000 */
  readonly archiveTimeoutMs?: number;
}

/** One check of {@link CheckReport}. */
export interface CheckResult {
  /** What was checked: `connection`, `privileges`, `wal_level`, `archive_mode`, `archive_command`, `restore_command`, `store`, `store_cluster`, `wal_switch`, `archive_cluster`. */
  readonly name: string;
  /** `ok`, `failed`, or `skipped` (not applicable here, or an earlier check failed). */
  readonly status: 'ok' | 'failed' | 'skipped';
  /** What was found (the reason, when failed or skipped). */
  readonly detail: string;
  /** For a failure: its own error code. */
  readonly code?: string;
}

/** What {@link checkChain} found. */
export interface CheckReport {
  /** Every check passed (skipped ones do not count against it). */
  readonly ok: boolean;
  /** The checks, in the order they ran. */
  readonly checks: readonly CheckResult[];
  /** The server, once connected. */
  readonly server?: {
    /** `server_version_num`. */
    readonly serverVersion: number;
    /** The cluster's system identifier. */
    readonly systemIdentifier: string;
    /** A standby. */
    readonly inRecovery: boolean;
  };
  /** The segment switched to and read back from the archive. */
  readonly walFile?: string;
  /** How long the segment took to reach the archive, ms. */
  readonly archivedAfterMs?: number;
}

/** Bytes 24-31 of a segment's first page (the long page header): the cluster's system identifier. */
function segmentSystemIdentifier(segment: Buffer): string | undefined {
  return segment.length >= 40 ? segment.readBigUInt64LE(24).toString() : undefined;
}

/** Whether a command line is archive-push's (or archive-get's) aimed at `url`. */
function commandAims(line: string, verb: 'archive-push' | 'archive-get', url: string | undefined): 'ours' | 'not ours' | 'other archive' {
  if (!line.includes(` ${verb} `)) return 'not ours';
  if (url === undefined) return 'ours';
  const words = [url, quoteForShell(url), quoteForShell(url).replace(/%/g, '%%'), url.replace(/%/g, '%%')];
  return words.some((w) => line.includes(`--archive ${w}`)) ? 'ours' : 'other archive';
}

/**
 * Proves the chain a restore depends on, against a running server; never throws for a failed
 * check (each is in the report with its code), only for bad options.
 *
 * @example
 * ```ts
 * const report = await checkChain({ connection: 'postgresql://backup@db/postgres', store, walArchive, walArchiveUrl: '/var/backups/wal' });
 * if (!report.ok) console.error(report.checks.filter((c) => c.status === 'failed'));
 * ```
 */
export async function checkChain(options: CheckOptions): Promise<CheckReport> {
  const checks: CheckResult[] = [];
  const call = options.signal ? { signal: options.signal } : {};
  const ok = (name: string, detail: string): void => void checks.push({ name, status: 'ok', detail });
  const skip = (name: string, detail: string): void => void checks.push({ name, status: 'skipped', detail });
  const fail = (name: string, code: string, detail: string): void => void checks.push({ name, status: 'failed', code, detail });
  const failedWith = (name: string, error: unknown, fallback: string): void => fail(name, isBackupError(error) ? error.code : fallback, (error as Error).message);

  let client: pg.Client | undefined;
  let info: ServerInfo | undefined;
  try {
    client = await connect(options.connection, { applicationName: 'pg-split-backup check', retries: 2, keepAliveInitialDelayMillis: 10_000, connectionTimeoutMillis: 10_000, ...call });
    info = await readServerInfo(client);
    ok('connection', `PostgreSQL ${info.serverVersion} as ${info.currentUser}, ${info.inRecovery ? 'a standby' : 'a primary'}`);
  } catch (error) {
    failedWith('connection', error, 'CONNECTION_FAILED');
  }
  try {
    if (client === undefined || info === undefined) {
      for (const name of ['privileges', 'wal_level', 'archive_mode', 'archive_command', 'restore_command']) skip(name, 'not connected');
    } else {
      const settings = await readCheckSettings(client);
      const dialect = dialectFor(info.serverVersion);
      const missing = [!info.canStart && dialect.startFunction, !info.canStop && dialect.stopFunction, !info.inRecovery && !settings.canSwitchWal && 'pg_switch_wal()'].filter(
        (f): f is string => typeof f === 'string',
      );
      if (missing.length > 0) fail('privileges', 'PRIVILEGE', `role ${info.currentUser} may not run ${missing.join(', ')}: GRANT EXECUTE ON FUNCTION ${missing.join(', ')} TO ${info.currentUser}`);
      else ok('privileges', `${info.currentUser} may start and stop backups${info.inRecovery ? '' : ' and switch WAL'}`);
      if (info.walLevel === 'minimal') fail('wal_level', 'SERVER_SETTING', 'wal_level is minimal: set it to replica (or logical) and restart');
      else ok('wal_level', info.walLevel);
      const archiving = info.archiveMode === 'always' || (info.archiveMode === 'on' && !info.inRecovery);
      if (!archiving) fail('archive_mode', 'SERVER_SETTING', `archive_mode is ${info.archiveMode}${info.inRecovery ? ' on a standby (only always archives there)' : ''}: set it to on and restart`);
      else ok('archive_mode', info.archiveMode);
      if (info.archiveLibrary !== '') {
        fail('archive_command', 'ARCHIVE_COMMAND_MISMATCH', `archive_library = ${info.archiveLibrary} is set: archive_command is not used`);
      } else {
        const aim = commandAims(info.archiveCommand, 'archive-push', options.walArchiveUrl);
        if (aim === 'ours') ok('archive_command', info.archiveCommand);
        else fail('archive_command', 'ARCHIVE_COMMAND_MISMATCH', aim === 'not ours' ? `archive_command is not pg-split-backup archive-push: ${JSON.stringify(info.archiveCommand)} (pg-split-backup archive-config prints the line)` : `archive_command stores into another archive than ${options.walArchiveUrl}: ${JSON.stringify(info.archiveCommand)}`);
      }
      if (settings.restoreCommand === '') {
        if (info.inRecovery) fail('restore_command', 'ARCHIVE_COMMAND_MISMATCH', 'restore_command is empty on a standby: it cannot fetch WAL from the archive');
        else skip('restore_command', 'not set (a primary does not need it)');
      } else {
        const aim = commandAims(settings.restoreCommand, 'archive-get', options.walArchiveUrl);
        if (aim === 'ours') ok('restore_command', settings.restoreCommand);
        else fail('restore_command', 'ARCHIVE_COMMAND_MISMATCH', aim === 'not ours' ? `restore_command is not pg-split-backup archive-get: ${JSON.stringify(settings.restoreCommand)}` : `restore_command reads another archive than ${options.walArchiveUrl}`);
      }
    }

    // The store: listed, its summaries of this cluster, and writable (a probe object, never a summary).
    let ids: string[] | undefined;
    try {
      ids = await options.store.list(call);
      if (options.store.probeWrite) await options.store.probeWrite(call);
      ok('store', `${options.store.name}: ${ids.length} summaries, ${options.store.probeWrite ? 'a probe object written, read back and removed' : 'listed (this store cannot be probed for writes)'}`);
    } catch (error) {
      fail('store', 'STORE_UNAVAILABLE', `${options.store.name}: ${(error as Error).message}`);
    }
    if (ids === undefined || info === undefined) skip('store_cluster', ids === undefined ? 'the store failed' : 'not connected');
    else if (ids.length === 0) ok('store_cluster', 'no summaries yet');
    else {
      try {
        // IDs sort by name, not time: a few of the last ones tell whose store this is.
        const sample = await Promise.all(ids.slice(-5).map(async (id) => (await options.store.get(id, call)).systemIdentifier));
        if (sample.includes(info.systemIdentifier)) ok('store_cluster', `summaries of cluster ${info.systemIdentifier}`);
        else fail('store_cluster', 'SYSTEM_ID_MISMATCH', `the newest summaries are of cluster ${[...new Set(sample)].join(', ')}, not this server's ${info.systemIdentifier}: another cluster's store?`);
      } catch (error) {
        failedWith('store_cluster', error, 'STORE_UNAVAILABLE');
      }
    }

    // A switch, and the segment back from the archive: decrypted, decompressed, of this cluster.
    const canSwitch = client !== undefined && info !== undefined && !info.inRecovery && !checks.some((c) => c.status === 'failed' && ['privileges', 'archive_mode', 'archive_command'].includes(c.name));
    if (!canSwitch) {
      for (const name of ['wal_switch', 'archive_cluster']) skip(name, info?.inRecovery ? 'a standby cannot switch WAL' : 'an earlier check failed');
      return report(checks, info);
    }
    const walFile = await switchWal(client!);
    const began = Date.now();
    const timeoutMs = options.archiveTimeoutMs ?? 60_000;
    const names = new Set(WAL_COMPRESSIONS.map((c) => storedWalName(walFile, c)));
    for (let pollMs = 50; ; pollMs = Math.min(pollMs * 2, 1000)) {
      if ((await options.walArchive.listFileNames(call)).some((n) => names.has(n))) break;
      if (Date.now() - began > timeoutMs) {
        fail('wal_switch', 'ARCHIVE_TIMEOUT', `${walFile} was not in ${options.walArchive.name} ${Math.round(timeoutMs / 1000)} s after the switch: see pg_stat_archiver.last_failed_wal and the server log`);
        skip('archive_cluster', 'the segment did not arrive');
        return report(checks, info, walFile);
      }
      await sleep(pollMs, options.signal);
    }
    const archivedAfterMs = Date.now() - began;
    ok('wal_switch', `${walFile} archived ${archivedAfterMs} ms after the switch`);
    try {
      if (typeof options.walArchive.readFile !== 'function') throw new BackupError('INVALID_OPTION', `${options.walArchive.name} cannot read single files.`);
      const found = await findStoredWal(options.walArchive as Parameters<typeof findStoredWal>[0], walFile, call);
      if (found === undefined) throw new BackupError('ARCHIVE_FAILED', `${walFile} was listed but could not be read.`);
      const segment = await decompressWal(found.body, found.compression, found.storedAs);
      const sysid = segmentSystemIdentifier(segment);
      if (segment.length !== info!.walSegmentSize) fail('archive_cluster', 'ARCHIVE_FAILED', `${found.storedAs} holds ${segment.length} bytes, not a ${info!.walSegmentSize}-byte segment`);
      else if (sysid !== info!.systemIdentifier) fail('archive_cluster', 'SYSTEM_ID_MISMATCH', `${found.storedAs} is of cluster ${sysid}, not this server's ${info!.systemIdentifier}`);
      else ok('archive_cluster', `${found.storedAs} read back (${found.compression === 'none' ? 'plain' : found.compression}), a whole segment of cluster ${sysid}`);
    } catch (error) {
      failedWith('archive_cluster', error, 'ARCHIVE_FAILED');
    }
    return { ...report(checks, info, walFile), archivedAfterMs };
  } finally {
    if (client) await closeClient(client, 1000);
  }
}

function report(checks: CheckResult[], info: ServerInfo | undefined, walFile?: string): CheckReport {
  return {
    ok: checks.every((c) => c.status !== 'failed'),
    checks,
    ...(info ? { server: { serverVersion: info.serverVersion, systemIdentifier: info.systemIdentifier, inRecovery: info.inRecovery } } : {}),
    ...(walFile !== undefined ? { walFile } : {}),
  };
}
