import { readFileSync, rmSync } from 'node:fs';
import { appendFile, chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { binDirFor, clientBin } from './majors.js';
import { chownToServerUser, run, runOk, type CommandResult } from './os-user.js';

/** Options of {@link run}: spawn options plus `asServer` and `input`. */
export type RunOptions = NonNullable<Parameters<typeof run>[2]>;

/** How to make a throwaway cluster. */
export interface ClusterOptions {
  /** PostgreSQL major version, 10 to 18. */
  readonly major: number;
  /** initdb `--wal-segsize`, in MiB (PostgreSQL 11+). @default 16 */
  readonly walSegmentSizeMb?: number;
  /** postgresql.conf settings, written verbatim after the harness defaults (quote strings yourself: `"'C'"`). */
  readonly settings?: Readonly<Record<string, string>>;
  /** Archive WAL into `archiveDir` with `cp`. @default true */
  readonly archive?: boolean;
  /** Extra initdb arguments (`--data-checksums`...). */
  readonly initdbArgs?: readonly string[];
  /** A word in the temp dir's name, for debugging. @default `pgNN` */
  readonly name?: string;
  /**
   * Fill the (not yet existing) data directory instead of running initdb: pg_basebackup, a restore...
   * Runs as the test process; the harness then chowns the result to the server user and starts it.
   */
  readonly prepareDataDir?: (dataDir: string, cluster: TestCluster) => Promise<void>;
  /**
   * Start this data directory as it is instead of running initdb. `destroy()` removes it too.
   * Prefer `prepareDataDir`, which keeps everything under `baseDir`.
   */
  readonly existingDataDir?: string;
}

/** Options of {@link TestCluster.createRole}. */
export interface CreateRoleOptions {
  /** @default false */
  readonly superuser?: boolean;
  /** @default true */
  readonly login?: boolean;
}

/** The node:test context parts {@link withCluster} needs. */
export interface AfterHookContext {
  after(fn: () => unknown): void;
}

// Every cluster not yet destroyed, so a crashed or interrupted run still shuts them down.
const live = new Set<TestCluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const cluster of live) cluster.killSync();
  });
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    // process.exit runs the 'exit' hook above.
    process.once(signal, () => process.exit(code));
  }
}

/** A free TCP port on 127.0.0.1 (the OS picks it; a race with other processes is retried on start). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A real PostgreSQL server in a fresh temp directory (`data/`, `archive/`, `socket/`, `server.log`),
 * run as the `postgres` OS user when the tests run as root.
 *
 * @example
 * await using cluster = await TestCluster.start({ major: 17 });
 * const rows = await cluster.query<{ v: string }>('SELECT version() AS v');
 */
export class TestCluster {
  readonly host = '127.0.0.1';
  readonly user = 'postgres';
  readonly major: number;
  readonly baseDir: string;
  readonly binDir: string;
  readonly dataDir: string;
  /** The WAL archive (`archive_command` copies here). */
  readonly archiveDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  #port: number;
  #running = false;
  #destroyed = false;
  readonly #cleanup: string[] = [];

  private constructor(major: number, baseDir: string, port: number, dataDir?: string) {
    this.major = major;
    this.baseDir = baseDir;
    this.binDir = binDirFor(major);
    this.dataDir = dataDir ?? join(baseDir, 'data');
    this.archiveDir = join(baseDir, 'archive');
    this.socketDir = join(baseDir, 'socket');
    this.logFile = join(baseDir, 'server.log');
    this.#port = port;
    this.#cleanup.push(baseDir);
    if (dataDir !== undefined) this.#cleanup.push(dataDir);
  }

  /** initdb (or `prepareDataDir`), configure, start, and wait until it accepts connections. */
  static async start(options: ClusterOptions): Promise<TestCluster> {
    if (options.walSegmentSizeMb !== undefined && options.major < 11) {
      throw new Error(`initdb --wal-segsize needs PostgreSQL 11 or later (asked for ${options.walSegmentSizeMb} MiB on ${options.major})`);
    }
    binDirFor(options.major); // fails early, before any temp dir exists, on a major without binaries
    installExitHook();
    const port = await freePort();
    const base = await mkdtemp(join(tmpdir(), `pgsb-${options.name ?? `pg${options.major}`}-`));
    const cluster = new TestCluster(options.major, base, port, options.existingDataDir);
    live.add(cluster);
    try {
      // mkdtemp makes it 0700; the server user must be able to enter it even before the chown.
      await chmod(base, 0o755);
      await mkdir(cluster.archiveDir);
      await mkdir(cluster.socketDir);
      await chownToServerUser(base);
      if (options.prepareDataDir) await options.prepareDataDir(cluster.dataDir, cluster);
      else if (options.existingDataDir === undefined) await cluster.#initdb(options);
      await chownToServerUser(cluster.dataDir);
      await chmod(cluster.dataDir, 0o700);
      await cluster.#configure(options);
      await cluster.#startServer();
      return cluster;
    } catch (error) {
      const log = await cluster.log();
      await cluster.destroy();
      throw new Error(`PostgreSQL ${options.major} did not start: ${(error as Error).message}\n${log.slice(-4000)}`, { cause: error });
    }
  }

  get port(): number {
    return this.#port;
  }

  /** True between a successful start and stop/destroy. */
  get running(): boolean {
    return this.#running;
  }

  /** `postgresql://postgres@127.0.0.1:PORT/postgres` */
  get connectionString(): string {
    return this.connectionStringFor(this.user);
  }

  /** The connection string for another role (trust auth: no password). */
  connectionStringFor(role: string, database = 'postgres'): string {
    return `postgresql://${encodeURIComponent(role)}@${this.host}:${this.#port}/${encodeURIComponent(database)}`;
  }

  /** A `pg` client configuration for the `postgres` superuser. */
  get connectionConfig(): pg.ClientConfig {
    return { host: this.host, port: this.#port, user: this.user, database: 'postgres' };
  }

  /** Runs one statement on a short-lived connection and returns its rows. */
  async query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params: readonly unknown[] = [], role = this.user): Promise<T[]> {
    const client = new pg.Client({ ...this.connectionConfig, user: role });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<T>(sql, params as unknown[])).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The server log so far. */
  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** Waits until the server log matches `pattern`; returns the match. */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.log();
      const match = pattern.exec(text);
      if (match) return match[0];
      if (Date.now() > deadline) throw new Error(`server log of PostgreSQL ${this.major} never matched ${pattern}:\n${text.slice(-3000)}`);
      await delay(100);
    }
  }

  /** ALTER SYSTEM each setting, then reload (or restart, for settings that need it). */
  async setSettings(settings: Readonly<Record<string, string>>, options: { restart?: boolean } = {}): Promise<void> {
    for (const [name, value] of Object.entries(settings)) {
      await this.query(`ALTER SYSTEM SET ${pg.escapeIdentifier(name)} = ${pg.escapeLiteral(value)}`);
    }
    if (options.restart) await this.restart();
    else await this.reload();
  }

  /** Reloads the configuration and waits until new connections see it. */
  async reload(): Promise<void> {
    const [before] = await this.query<{ t: string }>('SELECT pg_conf_load_time()::text AS t');
    await this.query('SELECT pg_reload_conf()');
    // The postmaster rereads the files asynchronously; backends forked after that inherit a later load time.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [now] = await this.query<{ t: string }>('SELECT pg_conf_load_time()::text AS t');
      if (now?.t !== before?.t) return;
      if (Date.now() > deadline) throw new Error(`PostgreSQL ${this.major} did not reload its configuration within 10s`);
      await delay(50);
    }
  }

  /** Stops and starts the server on the same port. */
  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.#startServer();
  }

  /** Stops the server; the data directory stays (start it again with {@link startAgain}). */
  async stop(mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.#running) return;
    await this.pgCtl(['stop', '-w', '-t', '60', '-m', mode]);
    this.#running = false;
  }

  /** Starts the server again after {@link stop}. */
  async startAgain(): Promise<void> {
    if (!this.#running) await this.#startServer();
  }

  /** Runs this major's pg_ctl on the data directory as the server user. */
  pgCtl(args: readonly string[]): Promise<CommandResult> {
    return runOk(join(this.binDir, 'pg_ctl'), ['-D', this.dataDir, ...args], { asServer: true });
  }

  /** Runs a command as the server user when root (psql, pgbench, tar...); does not throw on a non-zero exit. */
  runAs(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run(cmd, args, { ...options, asServer: true });
  }

  /** Runs a Debian PostgreSQL 15 client tool (psql, pgbench...) against this server, with -h -p -U filled in. */
  client(tool: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run(clientBin(tool), ['-h', this.host, '-p', String(this.#port), '-U', this.user, ...args], options);
  }

  /** Creates a role if it does not exist (LOGIN unless `login: false`; no other privileges unless asked). */
  async createRole(name: string, options: CreateRoleOptions = {}): Promise<void> {
    const exists = await this.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    if (exists.length > 0) return;
    const attrs = [options.login === false ? 'NOLOGIN' : 'LOGIN', options.superuser ? 'SUPERUSER' : 'NOSUPERUSER'];
    await this.query(`CREATE ROLE ${pg.escapeIdentifier(name)} ${attrs.join(' ')}`);
  }

  /** Stops the server at once and removes every file. Idempotent; never throws. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#running) await this.stop('immediate').catch(() => this.killSync());
    this.#running = false;
    live.delete(this);
    for (const dir of this.#cleanup) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  /** Last resort on process exit: SIGQUIT the postmaster (immediate shutdown) and remove the files. */
  killSync(): void {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // not running
    }
    this.#running = false;
    for (const dir of this.#cleanup) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  }

  async #initdb(options: ClusterOptions): Promise<void> {
    const args = ['-D', this.dataDir, '-A', 'trust', '-U', this.user, '--no-sync', '-E', 'UTF8', '--locale=C'];
    if (options.walSegmentSizeMb !== undefined) args.push(`--wal-segsize=${options.walSegmentSizeMb}`);
    args.push(...(options.initdbArgs ?? []));
    await runOk(join(this.binDir, 'initdb'), args, { asServer: true });
  }

  async #configure(options: ClusterOptions): Promise<void> {
    // initdb -A trust already allows replication from 127.0.0.1; a prepared data dir may not.
    const hbaPath = join(this.dataDir, 'pg_hba.conf');
    const hba = await readFile(hbaPath, 'utf8').catch(() => '');
    if (!/^\s*host\s+replication\s+all\s+127\.0\.0\.1\/32\s+trust/m.test(hba)) {
      await appendFile(hbaPath, '\nhost replication all 127.0.0.1/32 trust\n');
    }
    const settings: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      port: String(this.#port),
      unix_socket_directories: `'${this.socketDir}'`,
      wal_level: 'replica',
      max_wal_senders: '10',
      shared_buffers: '32MB',
      max_connections: '150',
      log_line_prefix: "'%m [%p] '",
      logging_collector: 'off',
    };
    if (options.archive ?? true) {
      settings.archive_mode = 'on';
      settings.archive_command = `'test ! -f ${this.archiveDir}/%f && cp %p ${this.archiveDir}/%f'`;
    }
    for (const [k, v] of Object.entries(options.settings ?? {})) settings[k] = v;
    const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
    // Appended: later lines win, also over a copied primary's harness block.
    await appendFile(join(this.dataDir, 'postgresql.conf'), `\n# pg-split-backup test harness\n${lines.join('\n')}\n`);
    // A copied data dir may carry its source's pid file; the server would refuse to start.
    await rm(join(this.dataDir, 'postmaster.pid'), { force: true });
    await chownToServerUser(this.dataDir);
  }

  async #startServer(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.pgCtl(['start', '-w', '-t', '60', '-l', this.logFile, '-o', `-p ${this.#port}`]);
        this.#running = true;
        return;
      } catch (error) {
        const log = await this.log();
        if (attempt >= 3 || !/could not bind|Address already in use/.test(log)) throw error;
        // Another process took the port between freePort() and the bind.
        this.#port = await freePort();
      }
    }
  }
}

/**
 * Starts a cluster for one node:test test and destroys it after the test, pass or fail.
 *
 * @example
 * test('x', async (t) => { const cluster = await withCluster(t, { major: 17 }); ... });
 */
export async function withCluster(t: AfterHookContext, options: ClusterOptions): Promise<TestCluster> {
  const cluster = await TestCluster.start(options);
  t.after(() => cluster.destroy());
  return cluster;
}

/** Writes a file owned by the server user (recovery.signal, configs...). */
export async function writeServerFile(path: string, body: string): Promise<void> {
  await writeFile(path, body, { mode: 0o600 });
  await chownToServerUser(path);
}

/**
 * A streaming standby of `primary` (any major 10-18), started on its own port with `hot_standby=on`.
 * Destroy it like any cluster.
 *
 * 10-15: `pg_basebackup -X stream -R -c fast` with Debian's 15 client (it writes recovery.conf for 10
 * and 11); its primary_conninfo is replaced by a plain one that 10-13's libpq accepts.
 * 16+: that pg_basebackup refuses newer servers ("incompatible server version"), so the harness copies
 * the files itself ({@link copyBaseBackup}) and writes standby.signal and primary_conninfo as -R does;
 * the standby streams the WAL from the backup's start.
 */
export async function startStandby(primary: TestCluster, options: { name?: string } = {}): Promise<TestCluster> {
  const name = options.name ?? `standby${primary.major}`;
  return TestCluster.start({
    major: primary.major,
    name,
    settings: { hot_standby: 'on' },
    prepareDataDir: async (dataDir) => {
      const conninfo = `primary_conninfo = ${pg.escapeLiteral(`host=${primary.host} port=${primary.port} user=${primary.user} application_name=${name}`)}`;
      if (primary.major <= 15) {
        const args = ['-D', dataDir, '-X', 'stream', '-R', '-c', 'fast', '-h', primary.host, '-p', String(primary.port), '-U', primary.user];
        await runOk(clientBin('pg_basebackup'), args, { asServer: true });
        // -R writes libpq 15's full option list (sslsni, passfile...); 10-13's walreceiver rejects
        // "invalid connection option sslsni" and never streams. Replace it with a plain one.
        const file = join(dataDir, primary.major >= 12 ? 'postgresql.auto.conf' : 'recovery.conf');
        const text = await readFile(file, 'utf8');
        await writeFile(file, text.replace(/^primary_conninfo\s*=.*$/m, conninfo));
        return;
      }
      await copyBaseBackup(primary, dataDir, name);
      await writeFile(join(dataDir, 'standby.signal'), '');
      await appendFile(join(dataDir, 'postgresql.auto.conf'), `${conninfo}\n`);
    },
  });
}

// What basebackup.c leaves out: directories copied empty, files skipped.
const EMPTY_DIRS = new Set(['pg_wal', 'pg_stat_tmp', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans']);
const KEEP_EMPTY_IN_PG_WAL = ['archive_status', 'summaries'];
const SKIP_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'tablespace_map',
  'postgresql.auto.conf.tmp',
  'current_logfiles.tmp',
  'backup_manifest',
  'standby.signal',
  'recovery.signal',
]);

/**
 * A non-exclusive low-level base backup of a running `source` into `dataDir` (files copied by this
 * process, backup_label written from the stop result). No WAL is included: recovery needs it from the
 * archive or by streaming. For tests that need a copy the harness cannot get from pg_basebackup.
 */
export async function copyBaseBackup(source: TestCluster, dataDir: string, label = 'pgsb-harness'): Promise<{ stopLsn: string }> {
  const client = new pg.Client(source.connectionConfig);
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(source.major >= 15 ? 'SELECT pg_backup_start($1, true)' : 'SELECT pg_start_backup($1, true, false)', [label]);
    const control = join('global', 'pg_control');
    await copyTree(source.dataDir, dataDir, '', (rel) => rel !== control);
    // pg_control last, as pg_basebackup does.
    await copyFileIfThere(join(source.dataDir, control), join(dataDir, control));
    const stop = source.major >= 15 ? 'SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)' : 'SELECT lsn::text, labelfile, spcmapfile FROM pg_stop_backup(false, false)';
    const { rows } = await client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(stop);
    const result = rows[0];
    if (!result) throw new Error('backup stop returned no row');
    await writeFile(join(dataDir, 'backup_label'), result.labelfile, { mode: 0o600 });
    if (result.spcmapfile) await writeFile(join(dataDir, 'tablespace_map'), result.spcmapfile, { mode: 0o600 });
    return { stopLsn: result.lsn };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function copyTree(srcRoot: string, dstRoot: string, rel: string, include: (rel: string) => boolean): Promise<void> {
  await mkdir(join(dstRoot, rel), { mode: 0o700, recursive: true });
  let entries;
  try {
    entries = await readdir(join(srcRoot, rel), { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // dropped while we copied
    throw error;
  }
  for (const entry of entries) {
    const child = rel === '' ? entry.name : join(rel, entry.name);
    if (!include(child) || entry.name.startsWith('pgsql_tmp') || entry.name.startsWith('pg_internal.init')) continue;
    if (entry.isDirectory()) {
      if (rel === '' && EMPTY_DIRS.has(entry.name)) {
        await mkdir(join(dstRoot, child), { mode: 0o700 });
        if (entry.name === 'pg_wal') for (const d of KEEP_EMPTY_IN_PG_WAL) await mkdir(join(dstRoot, child, d), { mode: 0o700 });
        continue;
      }
      await copyTree(srcRoot, dstRoot, child, include);
    } else if (entry.isFile()) {
      if (rel === '' && SKIP_FILES.has(entry.name)) continue;
      await copyFileIfThere(join(srcRoot, child), join(dstRoot, child));
    }
    // Symlinks (pg_tblspc, an outside pg_wal) are not made by the harness; skip them.
  }
}

async function copyFileIfThere(src: string, dst: string): Promise<void> {
  try {
    await copyFile(src, dst);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // a relation dropped while we copied
  }
}
