import { spawn } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { BackupError } from '../errors.js';
import type { LabelStore } from '../sinks/contract.js';
import { sleep } from '../util/abort.js';
import { prepareRestore, type PrepareRestoreOptions } from './prepare-restore.js';

/** Options of {@link drill}. */
export interface DrillOptions {
  /** The backup to prove. */
  readonly id: string;
  /** Where its summary is. */
  readonly store: LabelStore;
  /** A directory holding the data copy as the backup program restored it. It is copied, never changed. */
  readonly dataCopy: string;
  /** Where recovery finds WAL: a filesystem archive, or a restore command. Not needed for includeWal backups. */
  readonly walArchive?: string;
  /** A restore_command instead of `walArchive`. */
  readonly restoreCommand?: string;
  /** Directory with `pg_ctl` (and `postgres`) of the backup's major, e.g. `/usr/lib/postgresql/15/bin`. */
  readonly binDir: string;
  /** Checks run against the restored server once it is consistent and out of recovery. */
  readonly check?: (client: pg.Client) => Promise<void>;
  /** How long recovery may take. @default 600000 (10 minutes) */
  readonly timeoutMs?: number;
  /** Where the scratch copy goes (it needs the data copy's size). @default the OS temp dir */
  readonly scratchDirectory?: string;
}

/** What a drill found. */
export interface DrillReport {
  /** The backup drilled. */
  readonly id: string;
  /** Recovery reached a consistent state, ended, and the checks passed. */
  readonly ok: boolean;
  /** The LSN the log says consistency was reached at. */
  readonly consistentAt: string | undefined;
  /** Milliseconds from starting the server to the end of recovery. */
  readonly recoveryMs: number;
  /** Total milliseconds, copy included. */
  readonly totalMs: number;
  /** The restored server's log. */
  readonly log: string;
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(ids ?? {}) });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * The restore drill: proves a backup restores. Copies the data copy to a scratch directory,
 * prepares it with {@link prepareRestore}, starts a private server on a Unix socket only (no TCP,
 * no archiving), waits until recovery ends, runs `check`, stops the server and removes the copy.
 * Run as root, the server runs as the data copy's owner (PostgreSQL refuses root).
 *
 * @throws BackupError from prepareRestore; `SERVER_ERROR` when the server does not come up.
 */
export async function drill(options: DrillOptions): Promise<DrillReport> {
  const began = Date.now();
  const owner = await stat(options.dataCopy);
  const ids = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : undefined;
  const scratch = await mkdtemp(join(options.scratchDirectory ?? tmpdir(), 'pgsb-drill-'));
  const pgdata = join(scratch, 'data');
  const logFile = join(scratch, 'server.log');
  let started = false;
  try {
    if (ids) await chown(scratch, ids.uid, ids.gid);
    // cp -a: several times faster than fs.cp on a data directory's thousands of files, and keeps links.
    const copied = await run('cp', ['-a', options.dataCopy, pgdata], undefined);
    if (copied.code !== 0) throw new BackupError('INVALID_OPTION', `Could not copy ${options.dataCopy}: ${copied.output.trim()}`);
    const restoreOptions: PrepareRestoreOptions = {
      id: options.id,
      store: options.store,
      pgdata,
      ...(options.walArchive !== undefined ? { walArchive: options.walArchive } : {}),
      ...(options.restoreCommand !== undefined ? { restoreCommand: options.restoreCommand } : {}),
    };
    await prepareRestore(restoreOptions);
    if (ids) await run('chown', ['-R', `${ids.uid}:${ids.gid}`, scratch], undefined);
    // A private server: Unix socket in the scratch dir only, and it must not archive into the real archive.
    const serverOptions = `-c listen_addresses='' -c unix_socket_directories='${scratch}' -c archive_mode=off -c port=5432`;
    const recoveryBegan = Date.now();
    const start = await run(join(options.binDir, 'pg_ctl'), ['-D', pgdata, '-l', logFile, '-o', serverOptions, '-w', '-t', String(Math.ceil((options.timeoutMs ?? 600_000) / 1000)), 'start'], ids);
    const readLog = (): Promise<string> => readFile(logFile, 'utf8').catch(() => '');
    if (start.code !== 0) {
      throw new BackupError('SERVER_ERROR', `The restored copy of backup ${options.id} did not start: ${start.output.trim()}\n${(await readLog()).slice(-2000)}`);
    }
    started = true;
    const client = new pg.Client({ host: scratch, port: 5432, user: await ownerName(ids), database: 'postgres' });
    client.on('error', () => undefined);
    await client.connect();
    let recoveryMs = 0;
    try {
      const deadline = recoveryBegan + (options.timeoutMs ?? 600_000);
      for (;;) {
        const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        if (!rows[0]!.r) break;
        if (Date.now() > deadline) throw new BackupError('SERVER_ERROR', `Recovery of backup ${options.id} did not end within the timeout.`);
        await sleep(200);
      }
      recoveryMs = Date.now() - recoveryBegan;
      await options.check?.(client);
    } finally {
      await client.end().catch(() => undefined);
    }
    const log = await readLog();
    const consistentAt = /consistent recovery state reached at (\S+)/.exec(log)?.[1];
    return { id: options.id, ok: consistentAt !== undefined || /redo done|database system is ready/.test(log), consistentAt, recoveryMs, totalMs: Date.now() - began, log };
  } finally {
    if (started) await run(join(options.binDir, 'pg_ctl'), ['-D', pgdata, '-m', 'immediate', '-w', 'stop'], ids).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The role to connect as: the OS user running the server (initdb's default superuser name). */
async function ownerName(ids: { uid: number } | undefined): Promise<string> {
  const uid = ids?.uid ?? process.getuid?.() ?? 0;
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  return passwd.split('\n').find((line) => line.split(':')[2] === String(uid))?.split(':')[0] ?? process.env.USER ?? 'postgres';
}
