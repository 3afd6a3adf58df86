import { chmod } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { BackupError, isBackupError } from '../errors.js';
import { BackupSession } from '../session/backup-session.js';
import type { StopResult } from '../session/events.js';
import type { Logger } from '../session/options.js';
import { openStore } from '../stores/store-url.js';
import { writeFileDurable } from '../util/durable-fs.js';
import type { HolderRequest, HolderResponse } from './protocol.js';
import { removeQuietly, writeRecord, type HolderRecord, type RecordState } from './record.js';
import { agentPaths } from './runtime-dir.js';

/** What `pre` hands the holder over its IPC channel (never argv or env: it may hold a password). */
export interface HolderConfig {
  readonly id: string;
  readonly runtimeDir: string;
  readonly sinks: readonly string[];
  /** A `postgresql://` URI; without it, PG* variables and ~/.pgpass. */
  readonly connectionString?: string;
  /** PGPASSWORD of the caller, moved out of the holder's environment. */
  readonly password?: string;
  readonly fast: boolean;
  readonly maxHoldMs: number;
  readonly waitForArchive: boolean;
  readonly archiveTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly spoolDirectory?: string;
}

/** Messages the holder sends `pre` over IPC. */
export type HolderMessage =
  | { readonly type: 'started'; readonly record: HolderRecord }
  | { readonly type: 'failed'; readonly error: ReturnType<BackupError['toJSON']> };

function toJson(error: unknown): ReturnType<BackupError['toJSON']> {
  if (isBackupError(error)) return error.toJSON();
  return { code: 'HOLDER_FAILED', message: (error as Error)?.message ?? String(error), details: {} };
}

/**
 * The holder: owns one BackupSession from start to stop, answers on a Unix socket, and leaves a
 * record of how the backup ended. `send` reaches `pre` while it waits.
 */
export async function runHolder(config: HolderConfig, send: (message: HolderMessage) => void, log: Logger): Promise<number> {
  const paths = agentPaths(config.runtimeDir, config.id);
  let server: Server | undefined;
  let record: HolderRecord = { v: 1, id: config.id, state: 'running', pid: process.pid };
  let stopping: Promise<HolderResponse> | undefined;
  let exitCode = 0;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));

  // Ends the holder once: the record says how, the socket and lock go away.
  let ending = false;
  const end = async (state: RecordState, extra: Partial<HolderRecord>, code: number): Promise<void> => {
    if (ending) return;
    ending = true;
    exitCode = code;
    record = { ...record, state, endedAt: new Date().toISOString(), ...extra };
    await writeRecord(paths.record, record).catch((error: Error) => log('error', `could not write the record: ${error.message}`));
    log(state === 'stopped' ? 'info' : 'warn', `backup ${config.id} ${state}${record.reason ? `: ${record.reason}` : ''}`);
    server?.close();
    await removeQuietly(paths.socket, paths.lock);
    finished();
  };

  if (config.password !== undefined) process.env.PGPASSWORD = config.password;
  let session: BackupSession;
  try {
    const sinks = await Promise.all(config.sinks.map((url) => openStore(url)));
    session = new BackupSession({
      id: config.id,
      connection: config.connectionString ?? {},
      sinks,
      fast: config.fast,
      waitForArchive: config.waitForArchive,
      maxHold: config.maxHoldMs,
      logger: log,
      ...(config.archiveTimeoutMs !== undefined ? { archiveTimeout: config.archiveTimeoutMs } : {}),
      ...(config.heartbeatIntervalMs !== undefined ? { heartbeatInterval: config.heartbeatIntervalMs } : {}),
      ...(config.spoolDirectory !== undefined ? { spoolDirectory: config.spoolDirectory } : {}),
    });
    session.on('warning', ({ message }) => log('warn', message));
    session.on('waiting-for-archive', ({ walFile, elapsedMs }) => log('info', `waiting for ${walFile} to be archived (${Math.round(elapsedMs / 1000)} s)`));
    const started = await session.start();
    record = { ...record, startLsn: started.startLsn, startWalFile: started.startWalFile, startedAt: started.startedAt };
  } catch (error) {
    log('error', `start failed: ${(error as Error).message}`);
    await removeQuietly(paths.socket, paths.lock, paths.record);
    send({ type: 'failed', error: toJson(error) });
    return 1;
  }

  session.on('lost', ({ reason }) => void end('lost', { reason }, 3));
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) return; // a stop in progress finishes: the server has the backup's end in hand
      void session.abort(`the holder received ${signal}`).then(() => end('aborted', { reason: `the holder received ${signal}` }, 3));
    });
  }

  const stop = async (): Promise<HolderResponse> => {
    try {
      const result: StopResult = await session.stop();
      const receipts = result.receipts;
      await end('stopped', { stopLsn: result.summary.stopLsn, stopWalFile: result.summary.stopWalFile, receipts }, 0);
      return { v: 1, ok: true, id: config.id, summary: result.summary, receipts };
    } catch (error) {
      const json = toJson(error);
      const state: RecordState =
        json.code === 'SINK_FAILED' ? 'sink-failed' : json.code === 'ARCHIVE_TIMEOUT' ? 'archive-timeout' : record.state === 'running' ? 'lost' : record.state;
      await end(state, { reason: json.message, error: json, ...(typeof json.details.spoolPath === 'string' ? { spoolPath: json.details.spoolPath } : {}) }, 3);
      return { v: 1, ok: false, error: json };
    }
  };

  const handle = async (request: HolderRequest): Promise<HolderResponse> => {
    if (request?.v !== 1) return { v: 1, ok: false, error: { code: 'INVALID_OPTION', message: `Unsupported protocol version ${String(request?.v)}.`, details: {} } };
    switch (request.op) {
      case 'status':
        return { ...record, v: 1, ok: true, heldForMs: Date.now() - Date.parse(record.startedAt ?? new Date().toISOString()) };
      case 'stop':
        stopping ??= stop();
        return stopping;
      case 'abort': {
        if (stopping) return { v: 1, ok: false, error: { code: 'INVALID_STATE', message: 'The backup is being stopped; it can no longer be aborted.', details: {} } };
        const reason = request.reason ?? 'aborted on request';
        await session.abort(reason);
        await end('aborted', { reason }, 3);
        return { v: 1, ok: true, id: config.id, state: 'aborted' };
      }
      default:
        return { v: 1, ok: false, error: { code: 'INVALID_OPTION', message: `Unknown request ${JSON.stringify((request as { op?: unknown }).op)}.`, details: {} } };
    }
  };

  const serve = (socket: Socket): void => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      const line = buffer.slice(0, newline);
      buffer = '';
      let request: HolderRequest;
      try {
        request = JSON.parse(line) as HolderRequest;
      } catch {
        socket.end(`${JSON.stringify({ v: 1, ok: false, error: { code: 'INVALID_OPTION', message: 'Not JSON.', details: {} } })}\n`);
        return;
      }
      void handle(request).then((response) => socket.end(`${JSON.stringify(response)}\n`));
    });
  };

  try {
    await removeQuietly(paths.socket);
    server = createServer(serve);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(paths.socket, () => resolve());
    });
    await chmod(paths.socket, 0o600);
    await writeFileDurable(paths.lock, `${process.pid}\n`);
    await writeRecord(paths.record, record);
  } catch (error) {
    await session.abort('the holder could not open its control socket');
    await removeQuietly(paths.socket, paths.lock, paths.record);
    send({ type: 'failed', error: toJson(new BackupError('HOLDER_FAILED', `The holder could not open ${paths.socket}: ${(error as Error).message}`, { cause: error })) });
    return 1;
  }
  log('info', `backup ${config.id} held by pid ${process.pid}, control socket ${paths.socket}`);
  send({ type: 'started', record });
  await done;
  // Let the last answer reach its client before the process goes.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return exitCode;
}
