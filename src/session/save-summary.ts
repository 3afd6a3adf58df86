import type pg from 'pg';
import { BackupError, isBackupError } from '../errors.js';
import { waitForArchived } from '../postgres/archive-wait.js';
import type { ServerInfo } from '../postgres/server-info.js';
import type { SinkReceipt, SummarySink } from '../sinks/contract.js';
import { summaryNotSaved } from '../sinks/failure.js';
import { writeToSinks } from '../sinks/fan-out.js';
import type { Spool } from '../spool/spool.js';
import type { BackupSummary } from '../summary/summary.js';
import type { BackupSessionEvents } from './events.js';
import { toBackupError, withDetails } from './failures.js';

type Emit = <E extends keyof BackupSessionEvents>(event: E, payload: Parameters<BackupSessionEvents[E]>[0]) => void;

/** What {@link saveSummary} works with. */
export interface SaveContext {
  readonly spool: Spool;
  readonly sinks: readonly SummarySink[];
  readonly sinkRetries: number;
  readonly signal: AbortSignal | undefined;
  readonly emit: Emit;
  readonly warn: (message: string) => void;
  /** The spool path while the spool holds the summary, then undefined. */
  readonly onSpoolPath: (path: string | undefined) => void;
  /** Wait for the stop WAL file to be archived on this connection; undefined: no wait. */
  readonly archive?: { readonly client: pg.Client; readonly server: ServerInfo; readonly timeoutMs: number } | undefined;
  /** What could not be read into the summary: fails the stop once the summary is saved. */
  readonly problem?: BackupError | undefined;
}

/**
 * The order that loses nothing: the spool first (fsync, rename), then every sink, then the
 * archive wait, which runs even when a sink failed, because whoever delivers the spooled summary
 * later needs to know whether the WAL made it (`details.walArchived`).
 */
export async function saveSummary(summary: BackupSummary, context: SaveContext): Promise<SinkReceipt[]> {
  let spoolPath: string | undefined;
  try {
    spoolPath = await context.spool.put(summary);
    context.onSpoolPath(spoolPath);
    context.emit('spooled', { path: spoolPath });
  } catch (error) {
    // The summary is still in memory: the sinks may yet save it, so carry on, loudly.
    context.warn(`Could not persist the summary to the spool ${context.spool.directory}: ${(error as Error).message}`);
  }
  const { receipts, failures } = await writeToSinks(summary, context.sinks, {
    retries: context.sinkRetries,
    ...(context.signal ? { signal: context.signal } : {}),
    onRetry: ({ sink, attempt, retriesLeft, error }) => context.emit('sink-retry', { sink, attempt, retriesLeft, error }),
    onWritten: (sink, receipt) => context.emit('sink-written', { sink, receipt }),
  });
  let sinkFailure = failures.length > 0 ? summaryNotSaved(summary, failures, spoolPath) : undefined;
  if (sinkFailure === undefined && spoolPath !== undefined) {
    await context.spool.remove(summary.id).catch((error: Error) => context.warn(`Could not remove the delivered summary from the spool: ${error.message}`));
    context.onSpoolPath(undefined);
  }
  if (context.problem) throw context.problem;
  if (context.archive !== undefined) {
    const archived = waitForStopWal(summary, context);
    if (sinkFailure === undefined) await archived;
    else {
      sinkFailure = await archived.then(
        () => withDetails(sinkFailure!, { walArchived: true }),
        (error: unknown) => withDetails(sinkFailure!, { walArchived: false, archiveError: toBackupError(error).toJSON() }),
      );
    }
  }
  if (sinkFailure !== undefined) throw sinkFailure;
  return receipts as SinkReceipt[];
}

async function waitForStopWal(summary: BackupSummary, context: SaveContext): Promise<void> {
  const { client, server, timeoutMs } = context.archive!;
  if (server.inRecovery && server.archiveMode !== 'always') {
    context.warn(
      `Backup ${summary.id} was taken from a standby without archive_mode=always: its WAL is archived by the primary, ` +
        `which this session cannot see. Make sure ${summary.stopWalFile} reaches the archive (run SELECT pg_switch_wal() on the primary).`,
    );
    return;
  }
  if (server.archiveMode === 'off') {
    context.warn(`WAL archiving is off: ensure the WAL through ${summary.stopWalFile} reaches the restore by other means.`);
    return;
  }
  try {
    await waitForArchived(client, {
      id: summary.id,
      walFile: summary.stopWalFile,
      exact: server.canStatFile,
      timeoutMs,
      signal: context.signal,
      onWaiting: ({ elapsedMs, lastArchivedWal, lastFailedWal }) => context.emit('waiting-for-archive', { walFile: summary.stopWalFile, elapsedMs, lastArchivedWal, lastFailedWal }),
    });
  } catch (error) {
    if (isBackupError(error)) throw error;
    throw new BackupError(
      'SERVER_ERROR',
      `The summary of backup ${summary.id} is saved, but checking that its WAL was archived failed: ${(error as Error).message}. Check that ${summary.stopWalFile} reaches the archive.`,
      { cause: error, details: { id: summary.id, walFile: summary.stopWalFile } },
    );
  }
}
