// Entry point of the detached holder process that `pg-split-backup pre` starts. Its configuration
// arrives over the IPC channel (it may hold a password: never argv or env); stdout and stderr are
// its log file in the runtime directory. Runs from src (node --import tsx) and from dist alike.
import './node-navigator.js'; // first: before pg loads
import { rm } from 'node:fs/promises';
import { debugEnabled } from './debug.js';
import { decodeConfigMessage, type HolderConfig, type HolderMessage } from '../protocol.js';
import { Holder, toBackupError } from './holder.js';

const CONFIG_TIMEOUT_MS = 30_000;

/** Debug lines (heartbeats, every progress tick, server facts) only when asked: `pre --verbose` or the environment. */
const DEBUG = debugEnabled(process.env);

function log(level: string, message: string, data?: Record<string, unknown>): void {
  if (level === 'debug' && !DEBUG) return;
  const extra = data === undefined || Object.keys(data).length === 0 ? '' : ` ${JSON.stringify(data)}`;
  process.stdout.write(`${new Date().toISOString()} [${process.pid}] ${level.toUpperCase()} ${message}${extra}\n`);
}

function send(message: HolderMessage): Promise<boolean> {
  return new Promise((resolve) => {
    if (!process.connected || process.send === undefined) return resolve(false);
    process.send(message, undefined, {}, (error) => resolve(error == null));
  });
}

async function main(config: HolderConfig): Promise<number> {
  process.title = `pg-split-backup holder ${config.id}`.slice(0, 80);
  log('info', `holder for backup ${config.id} starting (pid ${process.pid})`);
  const holder = new Holder(config, log, (progress) => void send({ type: 'progress', progress }));
  let started = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      log('warn', `received ${signal}`);
      holder.cancel(`the holder received ${signal}`);
    });
  }
  // Detached from the caller's session, but a terminal hangup must never end a held backup.
  process.on('SIGHUP', () => log('info', 'ignoring SIGHUP'));
  process.on('disconnect', () => {
    // pre went away before it could tell the backup program that the backup started: give it up.
    if (!started) holder.cancel('pre exited before the start was confirmed');
  });
  process.on('uncaughtException', (error) => void holder.crash(error));
  process.on('unhandledRejection', (error) => void holder.crash(error));

  let backup;
  try {
    backup = await holder.start();
  } catch (error) {
    if (!(await send({ type: 'failed', error: toBackupError(error).toJSON() })) && config.startLog !== undefined) {
      // pre is gone and cannot clean up after us: the start log is ours alone to remove.
      await rm(config.startLog, { force: true }).catch(() => undefined);
    }
    return 1;
  }
  started = true;
  if (!(await send({ type: 'started', backup }))) {
    holder.cancel('pre exited before the start was confirmed');
  }
  return holder.done;
}

if (process.send === undefined) {
  process.stderr.write('pg-split-backup holder: this process is started by `pg-split-backup pre`, not by hand.\n');
  process.exit(2);
}
const timer = setTimeout(() => {
  log('error', `no configuration from pre within ${CONFIG_TIMEOUT_MS / 1000} s; exiting`);
  process.exit(1);
}, CONFIG_TIMEOUT_MS);
process.once('message', (message: unknown) => {
  clearTimeout(timer);
  const config = decodeConfigMessage(message);
  if (config === undefined) {
    log('error', 'unexpected first message from pre; exiting');
    void send({ type: 'failed', error: { code: 'HOLDER_FAILED', message: 'The holder got no valid configuration from pre (version mismatch?).', details: {} } }).then(() =>
      process.exit(1),
    );
    return;
  }
  main(config).then(
    (code) => {
      log('info', `holder exiting with code ${code}`);
      process.exit(code);
    },
    (error: unknown) => {
      log('error', `holder failed: ${(error as Error)?.stack ?? String(error)}`);
      process.exit(1);
    },
  );
});
