import type pg from 'pg';
import { applySessionSettings, checkpointTimeline, reserveWal, startBackupCall } from '../postgres/held-backup.js';
import { preflight, readServerInfo, type ServerInfo } from '../postgres/server-info.js';
import { walFileName } from '../summary/wal-file.js';
import { throwIfAborted } from '../util/abort.js';
import type { StartResult } from './events.js';
import type { Logger } from './options.js';

/** How often `waiting-for-checkpoint` is reported. */
const CHECKPOINT_PROGRESS_MS = 1000;

/** What {@link beginBackup} needs from the session. */
export interface BeginBackupContext {
  readonly id: string;
  readonly fast: boolean;
  readonly includeWal: boolean;
  readonly requireArchiving: boolean;
  readonly signal: AbortSignal | undefined;
  readonly log: Logger;
  /** Once a second while the start's checkpoint runs (a spread one can take minutes). */
  readonly onCheckpointWait: (elapsedMs: number) => void;
  /** Runs the start call, turning the server's refusals into their codes. */
  readonly serverCall: <T>(call: () => Promise<T>) => Promise<T>;
  /** The server's facts, as soon as they are read (a failure after this still knows them). */
  readonly onServer: (server: ServerInfo) => void;
}

/**
 * On a fresh connection: reads and checks the server, makes the session immune to the server's
 * timeouts, reserves the WAL of a self-contained backup, and starts the backup.
 */
export async function beginBackup(client: pg.Client, context: BeginBackupContext): Promise<{ start: StartResult; walSlot: string | undefined }> {
  const server = await readServerInfo(client);
  context.onServer(server);
  context.log('debug', `connected to PostgreSQL ${server.serverVersion}`, { ...server });
  preflight(server, { requireArchiving: context.requireArchiving, includeWal: context.includeWal });
  await applySessionSettings(client, server.serverVersion);
  throwIfAborted(context.signal);
  // Reserved before start, so no WAL the backup needs can be removed before stop reads it.
  const walSlot = context.includeWal ? await reserveWal(client) : undefined;
  const began = Date.now();
  const ticker = setInterval(() => context.onCheckpointWait(Date.now() - began), CHECKPOINT_PROGRESS_MS);
  ticker.unref();
  context.log('debug', `starting the backup (fast: ${context.fast})`);
  const startLsn = await context.serverCall(() => startBackupCall(client, server.serverVersion, context.id, context.fast)).finally(() => clearInterval(ticker));
  const timeline = await checkpointTimeline(client);
  const start: StartResult = Object.freeze({
    id: context.id,
    startLsn,
    startWalFile: walFileName(timeline, startLsn, server.walSegmentSize),
    timeline,
    serverVersion: server.serverVersion,
    systemIdentifier: server.systemIdentifier,
    fromStandby: server.inRecovery,
    startedAt: new Date().toISOString(),
  });
  return { start, walSlot };
}
