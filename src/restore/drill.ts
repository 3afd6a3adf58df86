import { spawn } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type pg from 'pg';
import type { EncryptionSettings } from '../crypto/keyring.js';
import { BackupError } from '../errors.js';
import type { LabelStore } from '../sinks/contract.js';
import { abortReason, sleep, throwIfAborted } from '../util/abort.js';
import { prepareRestore, type PrepareRestoreOptions } from './prepare-restore.js';
import type { RecoveryTarget } from './recovery-config.js';
import type { TargetTimeline, TimelineChoice } from '../summary/timeline-history.js';

/** One result of {@link DrillClient.query}. */
export interface DrillQueryResult<R> {
  /** The rows, one object per row keyed by column name. */
  readonly rows: readonly R[];
}

/**
 * The connection to the restored server that {@link DrillOptions.check} gets: the part of a
 * `pg.Client` a check needs (at run time it is one, so a check declared with `pg.Client` works).
 */
export interface DrillClient {
  /** Runs one statement, with `$1`-style parameters. */
  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<DrillQueryResult<R>>;
}

/** What {@link DrillOptions.check} gets besides the client. */
export interface DrillCheckContext {
  /** The drill's `signal`: it fires when the drill is cancelled, and the check should then give up. */
  readonly signal?: AbortSignal;
}

/** What {@link DrillOptions.onProgress} is called with. */
export interface DrillProgress {
  /** A line for humans. */
  readonly message: string;
  /** Milliseconds since the server was started. */
  readonly elapsedMs: number;
  /** WAL files restored so far. */
  readonly walFilesReplayed: number;
}

/** Options of {@link drill}. */
export interface DrillOptions extends EncryptionSettings {
  /** The backup to prove. */
  readonly id: string;
  /** Where its summary is. */
  readonly store: LabelStore;
  /** A directory holding the data copy as the backup program restored it. Copied, never changed (unless `inPlace`). */
  readonly dataCopy: string;
  /** Where recovery finds WAL: an archive URL (as prepareRestore takes it), or a restore command. Not needed for includeWal backups. */
  readonly walArchive?: string;
  /** A restore_command instead of `walArchive`. */
  readonly restoreCommand?: string;
  /** How the server's shell starts the CLI in an archive-get `restore_command` (as {@link PrepareRestoreOptions.archiveProgram}). @default 'pg-split-backup' */
  readonly archiveProgram?: string;
  /** Directory with `pg_ctl` (and `postgres`) of the backup's major, e.g. `/usr/lib/postgresql/15/bin`. */
  readonly binDir: string;
  /**
   * Checks run against the restored server once it is consistent and out of recovery; a throw
   * fails the drill (rejects). A method, so a check declared as `(client: pg.Client) => ...` fits too.
   */
  check?(client: DrillClient, context: DrillCheckContext): Promise<void>;
  /** SQL statements that must each return one row whose first column is `true`; results in {@link DrillReport.checks}. */
  readonly checkSql?: readonly string[];
  /** Run amcheck: `pg_amcheck --all` when the bin dir has it, else the amcheck extension's `bt_index_check` on every btree index of `postgres`; skipped when neither exists. @default false */
  readonly amcheck?: boolean;
  /** Stop recovery at this target (then promote) instead of replaying all archived WAL. */
  readonly target?: RecoveryTarget;
  /** The timeline to recover onto (as {@link PrepareRestoreOptions.targetTimeline}). @default decided from the archive's history files */
  readonly targetTimeline?: TargetTimeline;
  /** Work on `dataCopy` itself instead of a scratch copy (it is prepared, started and left restored). @default false */
  readonly inPlace?: boolean;
  /** Leave the scratch copy (and its server log) in place; its path is {@link DrillReport.pgdata}. @default false */
  readonly keep?: boolean;
  /** Called about once a second while recovery replays WAL. */
  readonly onProgress?: (progress: DrillProgress) => void;
  /**
   * Cancels the drill at any step (copy, recovery, checks): the drill rejects with the signal's
   * reason once the private server is stopped and the scratch copy removed. With `inPlace`, the
   * data copy is left as far as it got (prepared, perhaps partly recovered).
   */
  readonly signal?: AbortSignal;
  /** How long recovery may take. @default 600000 (10 minutes) */
  readonly timeoutMs?: number;
  /** Where the scratch copy goes (it needs the data copy's size). @default the OS temp dir */
  readonly scratchDirectory?: string;
}

/** One check's outcome. */
export interface DrillCheck {
  /** `amcheck`, or `sql: <statement>`. */
  readonly name: string;
  /** True when the check passed (or was skipped). */
  readonly ok: boolean;
  /** Not run: amcheck is not installed for this server. */
  readonly skipped?: boolean;
  /** What it said (the value returned, the error, pg_amcheck's output). */
  readonly detail: string;
}

/** What a drill found. */
export interface DrillReport {
  /** The backup drilled. */
  readonly id: string;
  /** Recovery reached a consistent state, ended, and every check passed. */
  readonly ok: boolean;
  /** The LSN the log says consistency was reached at. */
  readonly consistentAt: string | undefined;
  /** WAL files the server restored (from the archive or the restore command). */
  readonly walFilesReplayed: number;
  /** Milliseconds from starting the server until consistency was seen (at most recoveryMs). */
  readonly consistencyMs: number;
  /** Milliseconds from starting the server to the end of recovery (promotion). */
  readonly recoveryMs: number;
  /** Total milliseconds, copy included. */
  readonly totalMs: number;
  /** The checks run (checkSql, amcheck), in order. */
  readonly checks: readonly DrillCheck[];
  /** The data directory drilled: the scratch copy (gone unless `keep`), or `dataCopy` with `inPlace`. */
  readonly pgdata: string;
  /** Whether `pgdata` is still there. */
  readonly kept: boolean;
  /** The restored server's log. */
  readonly log: string;
  /** The recovery timeline the restore wrote, and why. */
  readonly timeline: TimelineChoice;
  /** The timeline the restored server ended on (after its promotion: a new one). */
  readonly endTimeline: number | undefined;
}

/** Runs a program; when `signal` fires, the program is killed and this rejects with the signal's reason once it is gone. */
function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined, signal?: AbortSignal): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(ids ?? {}) });
    let output = '';
    const onAbort = (): void => void child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.on('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(abortReason(signal));
      else resolve({ code, output });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const RESTORED = /restored log file "([^"]+)" from archive/g;

/**
 * The restore drill: proves a backup restores. Copies the data copy to a scratch directory (or
 * works in place), prepares it with {@link prepareRestore}, starts a private server (Unix socket in
 * a private directory only, no TCP, `archive_mode=off` so it never writes into the production
 * archive), waits for consistency and the end of recovery (promotion), runs the checks, stops the
 * server and removes the scratch copy. Run as root, the server runs as the data copy's owner.
 *
 * @throws BackupError from prepareRestore; `SERVER_ERROR` when the server does not come up or
 *   recovery does not end in time; whatever `check` throws. Failed `checkSql`/`amcheck` checks do
 *   not throw: they make `ok` false.
 */
export async function drill(options: DrillOptions): Promise<DrillReport> {
  const began = Date.now();
  throwIfAborted(options.signal);
  const owner = await stat(options.dataCopy).catch((error: NodeJS.ErrnoException) => {
    throw new BackupError('INVALID_OPTION', `The data copy ${options.dataCopy} cannot be read: ${error.code ?? error.message}.`, { cause: error, details: { option: 'dataCopy', path: options.dataCopy } });
  });
  if (!owner.isDirectory()) throw new BackupError('INVALID_OPTION', `The data copy ${options.dataCopy} is not a directory.`, { details: { option: 'dataCopy', path: options.dataCopy } });
  const ids = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : undefined;
  const scratch = await mkdtemp(join(options.scratchDirectory ?? tmpdir(), 'pgsb-drill-'));
  const inPlace = options.inPlace === true;
  const pgdata = inPlace ? options.dataCopy : join(scratch, 'data');
  const logFile = join(scratch, 'server.log');
  const timeoutMs = options.timeoutMs ?? 600_000;
  let started = false;
  let keepScratch = false;
  try {
    if (ids) await chown(scratch, ids.uid, ids.gid);
    if (!inPlace) {
      // cp -a: several times faster than fs.cp on a data directory's thousands of files, and keeps links.
      const copied = await run('cp', ['-a', options.dataCopy, pgdata], undefined, options.signal);
      if (copied.code !== 0) throw new BackupError('INVALID_OPTION', `Could not copy ${options.dataCopy}: ${copied.output.trim()}`);
    }
    const restoreOptions: PrepareRestoreOptions = {
      id: options.id,
      store: options.store,
      pgdata,
      ...(options.walArchive !== undefined ? { walArchive: options.walArchive } : {}),
      ...(options.restoreCommand !== undefined ? { restoreCommand: options.restoreCommand } : {}),
      ...(options.archiveProgram !== undefined ? { archiveProgram: options.archiveProgram } : {}),
      ...(options.encryptionKeyFiles !== undefined ? { encryptionKeyFiles: options.encryptionKeyFiles } : {}),
      ...(options.requireEncrypted === true ? { requireEncrypted: true } : {}),
      // A target must end recovery, not pause it: the drill waits for promotion.
      ...(options.target !== undefined ? { target: options.target, targetAction: 'promote' as const } : {}),
      ...(options.targetTimeline !== undefined ? { targetTimeline: options.targetTimeline } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const prepared = await prepareRestore(restoreOptions);
    if (ids) await run('chown', ['-R', `${ids.uid}:${ids.gid}`, inPlace ? pgdata : scratch], undefined);
    if (ids && inPlace) await run('chown', ['-R', `${ids.uid}:${ids.gid}`, scratch], undefined);
    // A private server: Unix socket in the scratch dir only, and it must not archive into the real archive.
    const port = await freePort();
    const serverOptions = `-c listen_addresses='' -c unix_socket_directories='${scratch}' -c archive_mode=off -c port=${port}`;
    const recoveryBegan = Date.now();
    const readLog = (): Promise<string> => readFile(logFile, 'utf8').catch(() => '');
    throwIfAborted(options.signal);
    // -W: do not wait inside pg_ctl; we watch the log for progress and connect once it accepts.
    // Not cancellable: a pg_ctl killed midway may leave a server running that the finally would not stop.
    const start = await run(join(options.binDir, 'pg_ctl'), ['-D', pgdata, '-l', logFile, '-o', serverOptions, '-W', 'start'], ids);
    started = true;
    if (start.code !== 0) {
      throw new BackupError('SERVER_ERROR', `The restored copy of backup ${options.id} did not start: ${start.output.trim()}\n${(await readLog()).slice(-2000)}`);
    }
    const user = await ownerName(ids);
    const deadline = recoveryBegan + timeoutMs;
    let consistencyMs = 0;
    let recoveryMs = 0;
    let lastProgress = 0;
    let client: pg.Client | undefined;
    const checks: DrillCheck[] = [];
    let endTimeline: number | undefined;
    try {
      for (;;) {
        throwIfAborted(options.signal);
        const log = await readLog();
        if (consistencyMs === 0 && /consistent recovery state reached/.test(log)) consistencyMs = Date.now() - recoveryBegan;
        if (/FATAL|PANIC/.test(log) && /database system is shut down|aborting startup|startup process .* exited with exit code/.test(log)) {
          throw new BackupError('SERVER_ERROR', `Recovery of backup ${options.id} failed:\n${log.slice(-2000)}`);
        }
        const replayed = [...log.matchAll(RESTORED)];
        if (options.onProgress && Date.now() - lastProgress >= 1000) {
          lastProgress = Date.now();
          const last = replayed[replayed.length - 1]?.[1];
          options.onProgress({ message: `drill ${options.id}: replaying WAL, ${replayed.length} files restored${last ? ` (last ${last})` : ''}`, elapsedMs: Date.now() - recoveryBegan, walFilesReplayed: replayed.length });
        }
        if (client === undefined && Date.now() - recoveryBegan > 1000 && !(await stat(join(pgdata, 'postmaster.pid')).then(() => true, () => false))) {
          throw new BackupError('SERVER_ERROR', `The restored copy of backup ${options.id} stopped during recovery:\n${log.slice(-2000)}`);
        }
        if (client === undefined) {
          const { default: pgDriver } = await import('pg'); // loaded where used: see postgres/connect.ts
          const candidate = new pgDriver.Client({ host: scratch, port, user, database: 'postgres' });
          candidate.on('error', () => undefined);
          try {
            await candidate.connect();
            client = candidate;
          } catch {
            await candidate.end().catch(() => undefined);
          }
        }
        if (client !== undefined) {
          const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
          if (!rows[0]!.r) break;
        }
        if (Date.now() > deadline) throw new BackupError('SERVER_ERROR', `Recovery of backup ${options.id} did not end within ${Math.round(timeoutMs / 1000)} s.\n${log.slice(-2000)}`);
        await sleep(200, options.signal);
      }
      recoveryMs = Date.now() - recoveryBegan;
      if (consistencyMs === 0) consistencyMs = recoveryMs;
      // The WAL being written names the timeline at once; pg_control's lags until the next checkpoint.
      const tli = await client.query<{ t: string }>('SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS t').catch(() => undefined);
      endTimeline = tli?.rows[0]?.t === undefined ? undefined : Number.parseInt(tli.rows[0].t, 16);
      if (options.check) await options.check(client, options.signal ? { signal: options.signal } : {});
      throwIfAborted(options.signal);
      for (const sql of options.checkSql ?? []) {
        checks.push(await sqlCheck(client, sql));
        throwIfAborted(options.signal);
      }
      if (options.amcheck) checks.push(await amcheck(client, options.binDir, scratch, port, user, ids, options.signal));
      throwIfAborted(options.signal);
    } finally {
      await client?.end().catch(() => undefined);
    }
    const log = await readLog();
    const consistentAt = /consistent recovery state reached at (\S+)/.exec(log)?.[1];
    const reachedEnd = consistentAt !== undefined || /redo done|database system is ready/.test(log);
    keepScratch = options.keep === true;
    return {
      id: options.id,
      ok: reachedEnd && checks.every((c) => c.ok),
      consistentAt,
      walFilesReplayed: [...log.matchAll(RESTORED)].length,
      consistencyMs,
      recoveryMs,
      totalMs: Date.now() - began,
      checks,
      pgdata,
      kept: inPlace || keepScratch,
      log,
      timeline: prepared.timeline,
      endTimeline,
    };
  } finally {
    if (started) await run(join(options.binDir, 'pg_ctl'), ['-D', pgdata, '-m', 'immediate', '-w', 'stop'], ids).catch(() => undefined);
    if (!keepScratch) await rm(scratch, { recursive: true, force: true });
  }
}

async function sqlCheck(client: pg.Client, sql: string): Promise<DrillCheck> {
  const name = `sql: ${sql}`;
  try {
    const result = await client.query({ text: sql, rowMode: 'array' });
    const value: unknown = result.rows[0]?.[0];
    return { name, ok: result.rows.length === 1 && value === true, detail: result.rows.length === 0 ? 'no row' : `returned ${JSON.stringify(value)}${result.rows.length > 1 ? ` (and ${result.rows.length - 1} more rows)` : ''}` };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message };
  }
}

async function amcheck(client: pg.Client, binDir: string, socketDir: string, port: number, user: string, ids: { uid: number; gid: number } | undefined, signal: AbortSignal | undefined): Promise<DrillCheck> {
  const tool = join(binDir, 'pg_amcheck');
  const hasTool = await stat(tool).then(() => true, () => false);
  const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'amcheck'");
  if (rows[0]!.n === 0) return { name: 'amcheck', ok: true, skipped: true, detail: 'the amcheck extension is not installed for this server' };
  if (hasTool) {
    const result = await run(tool, ['--all', '--install-missing', '-h', socketDir, '-p', String(port), '-U', user], ids, signal);
    return { name: 'amcheck', ok: result.code === 0, detail: result.code === 0 ? 'pg_amcheck --all: no corruption found' : result.output.trim().slice(-2000) };
  }
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS amcheck');
    const checked = await client.query<{ n: number }>(
      "SELECT count(bt_index_check(c.oid))::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid AND i.indisready",
    );
    return { name: 'amcheck', ok: true, detail: `bt_index_check: ${checked.rows[0]!.n} btree indexes of database postgres, no corruption found` };
  } catch (error) {
    return { name: 'amcheck', ok: false, detail: (error as Error).message };
  }
}
/** The role to connect as: the OS user running the server (initdb's default superuser name). */
async function ownerName(ids: { uid: number } | undefined): Promise<string> {
  const uid = ids?.uid ?? process.getuid?.() ?? 0;
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  return passwd.split('\n').find((line) => line.split(':')[2] === String(uid))?.split(':')[0] ?? process.env.USER ?? 'postgres';
}
