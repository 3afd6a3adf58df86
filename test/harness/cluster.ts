import { readFileSync, rmSync } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { binDirFor, clientBin } from './majors.js';
import { chownToServerUser, run, runOk, type CommandResult } from './os-user.js';

/** How to make a throwaway cluster. */
export interface ClusterOptions {
  readonly major: number;
  /** initdb --wal-segsize (11+), in MiB. */
  readonly walSegmentSizeMb?: number;
  /** Extra postgresql.conf settings, applied last. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Archive WAL to `archiveDir` with cp. @default true */
  readonly archive?: boolean;
  readonly initdbArgs?: readonly string[];
  /** A word in the temp dir's name, for debugging. */
  readonly name?: string;
  /** Use this data directory as it is (already initialised or restored) instead of running initdb. */
  readonly existingDataDir?: string;
}

const live = new Set<TestCluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Clusters must not outlive a crashed or interrupted test run.
  process.on('exit', () => {
    for (const cluster of live) cluster.killSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const cluster of live) cluster.killSync();
      process.exit(130);
    });
  }
}

/** A free TCP port on 127.0.0.1 (the OS picks it). */
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

/** A real PostgreSQL server in a temp directory, run as the `postgres` user when the tests run as root. */
export class TestCluster {
  readonly host = '127.0.0.1';
  readonly user = 'postgres';
  readonly binDir: string;
  readonly dataDir: string;
  readonly archiveDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  #port: number;
  #running = false;
  #destroyed = false;

  private constructor(
    readonly major: number,
    readonly baseDir: string,
    port: number,
    dataDir?: string,
  ) {
    this.binDir = binDirFor(major);
    this.dataDir = dataDir ?? join(baseDir, 'data');
    this.archiveDir = join(baseDir, 'archive');
    this.socketDir = join(baseDir, 'socket');
    this.logFile = join(baseDir, 'server.log');
    this.#port = port;
  }

  /** initdb (unless `existingDataDir`), configure, start, and wait until it accepts connections. */
  static async start(options: ClusterOptions): Promise<TestCluster> {
    installExitHook();
    const base = await mkdtemp(join(tmpdir(), `pgsb-${options.name ?? `pg${options.major}`}-`));
    await chmod(base, 0o755);
    const cluster = new TestCluster(options.major, base, await freePort(), options.existingDataDir);
    live.add(cluster);
    try {
      await mkdir(cluster.archiveDir);
      await mkdir(cluster.socketDir);
      if (options.existingDataDir === undefined) await cluster.#initdb(options);
      await cluster.#configure(options);
      await chownToServerUser(base);
      if (options.existingDataDir !== undefined) await chownToServerUser(options.existingDataDir);
      await cluster.#startServer();
      return cluster;
    } catch (error) {
      const log = await readFile(cluster.logFile, 'utf8').catch(() => '');
      await cluster.destroy();
      throw new Error(`PostgreSQL ${options.major} did not start: ${(error as Error).message}\n${log}`, { cause: error });
    }
  }

  get port(): number {
    return this.#port;
  }

  get running(): boolean {
    return this.#running;
  }

  /** `postgresql://postgres@127.0.0.1:PORT/postgres` */
  get connectionString(): string {
    return this.connectionStringFor(this.user);
  }

  /** The connection string for another role (trust auth: no password). */
  connectionStringFor(role: string, database = 'postgres'): string {
    return `postgresql://${encodeURIComponent(role)}@${this.host}:${this.#port}/${database}`;
  }

  /** A `pg` client configuration. */
  get connectionConfig(): pg.ClientConfig {
    return { host: this.host, port: this.#port, user: this.user, database: 'postgres' };
  }

  /** Runs one statement on a short-lived connection and returns its rows. */
  async query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params: unknown[] = [], role = this.user): Promise<T[]> {
    const client = new pg.Client({ ...this.connectionConfig, user: role });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The server log so far. */
  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** Waits until the server log matches `pattern`. */
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

  /** ALTER SYSTEM each setting, then reload (or restart when a setting needs it). */
  async setSettings(settings: Readonly<Record<string, string>>, options: { restart?: boolean } = {}): Promise<void> {
    for (const [name, value] of Object.entries(settings)) {
      await this.query(`ALTER SYSTEM SET ${pg.escapeIdentifier(name)} = ${pg.escapeLiteral(value)}`);
    }
    if (options.restart) await this.restart();
    else await this.reload();
  }

  async reload(): Promise<void> {
    await this.query('SELECT pg_reload_conf()');
    await delay(200);
  }

  /** Stops and starts the server on the same port. */
  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.#startServer();
  }

  /** Stops the server; the data directory stays. */
  async stop(mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.#running) return;
    await this.pgCtl(['stop', '-w', '-t', '60', '-m', mode]);
    this.#running = false;
  }

  /** Starts the server again after {@link stop}. */
  async startAgain(): Promise<void> {
    if (!this.#running) await this.#startServer();
  }

  /** Runs pg_ctl as the server user. */
  pgCtl(args: readonly string[]): Promise<CommandResult> {
    return runOk(join(this.binDir, 'pg_ctl'), ['-D', this.dataDir, ...args], { asServer: true });
  }

  /** Runs a command as the server user (psql, pgbench, tar...). */
  runAs(cmd: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<CommandResult> {
    return run(cmd, args, { ...options, asServer: true });
  }

  /** Runs a client tool (psql, pgbench...) from Debian's PostgreSQL 15 against this server. */
  client(tool: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<CommandResult> {
    return run(clientBin(tool), ['-h', this.host, '-p', String(this.#port), '-U', this.user, ...args], options);
  }

  /** Creates a login role (no privileges beyond the defaults unless asked). */
  async createRole(name: string, options: { superuser?: boolean } = {}): Promise<void> {
    const exists = await this.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    if (exists.length === 0) await this.query(`CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN ${options.superuser ? 'SUPERUSER' : ''}`);
  }

  /** Stops the server at once and removes everything. Idempotent; never throws. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#running) await this.stop('immediate').catch(() => this.killSync());
    this.#running = false;
    live.delete(this);
    await rm(this.baseDir, { recursive: true, force: true }).catch(() => undefined);
    if (!this.dataDir.startsWith(this.baseDir)) await rm(this.dataDir, { recursive: true, force: true }).catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  /** Last resort on process exit: SIGQUIT the postmaster (immediate shutdown), remove the files. */
  killSync(): void {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // not running
    }
    this.#running = false;
    try {
      rmSync(this.baseDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }

  async #initdb(options: ClusterOptions): Promise<void> {
    const args = ['-D', this.dataDir, '-A', 'trust', '-U', this.user, '--no-sync', '-E', 'UTF8', '--locale=C'];
    if (options.walSegmentSizeMb !== undefined) {
      if (this.major < 11) throw new Error('initdb --wal-segsize needs PostgreSQL 11 or later');
      args.push(`--wal-segsize=${options.walSegmentSizeMb}`);
    }
    args.push(...(options.initdbArgs ?? []));
    await chownToServerUser(this.baseDir);
    await runOk(join(this.binDir, 'initdb'), args, { asServer: true });
    await appendFile(join(this.dataDir, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
  }

  async #configure(options: ClusterOptions): Promise<void> {
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
    await appendFile(join(this.dataDir, 'postgresql.conf'), `\n# test harness\n${lines.join('\n')}\n`);
    // A restored copy may carry the original's pid file; a live one is the test's bug, not ours.
    await rm(join(this.dataDir, 'postmaster.pid'), { force: true });
  }

  async #startServer(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.pgCtl(['start', '-w', '-t', '120', '-l', this.logFile, '-o', `-p ${this.#port}`]);
        this.#running = true;
        return;
      } catch (error) {
        const log = await this.log();
        if (attempt >= 3 || !/could not bind|Address already in use/.test(log)) throw error;
        this.#port = await freePort();
      }
    }
  }
}

/** Writes a file and hands it to the server user (for recovery.signal, configs...). */
export async function writeServerFile(path: string, body: string): Promise<void> {
  await writeFile(path, body, { mode: 0o600 });
  await chownToServerUser(path);
}

/**
 * A streaming standby of `primary`, made with pg_basebackup -R (Debian's 15 client, which can
 * copy every major from 10 on) and started with hot_standby on.
 */
export async function startStandby(primary: TestCluster, options: { name?: string } = {}): Promise<TestCluster> {
  const base = await mkdtemp(join(tmpdir(), `pgsb-${options.name ?? `standby${primary.major}`}-`));
  await chmod(base, 0o755);
  const dataDir = join(base, 'standby-data');
  await chownToServerUser(base);
  await run(clientBin('pg_basebackup'), ['-D', dataDir, '-X', 'stream', '-R', '-h', primary.host, '-p', String(primary.port), '-U', primary.user], {
    asServer: true,
  }).then((r) => {
    if (r.code !== 0) throw new Error(`pg_basebackup failed: ${r.stderr}`);
  });
  await chmod(dataDir, 0o700);
  const standby = await TestCluster.start({
    major: primary.major,
    existingDataDir: dataDir,
    name: options.name ?? `standby${primary.major}`,
    settings: { hot_standby: 'on' },
  });
  // The standby's own temp dir is separate from the one holding its data: remove both on destroy.
  const destroy = standby.destroy.bind(standby);
  standby.destroy = async () => {
    await destroy();
    await rm(base, { recursive: true, force: true }).catch(() => undefined);
  };
  return standby;
}
