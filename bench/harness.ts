// What the bench rows share: the knobs, the shape of one row, the timers, the compiled CLI, the
// shared cluster, and the raw-psql baseline. Rows reach the library only through its public entry
// points ('../../src/index.js' = pg-split-backup, '../../src/stores/s3.js' = pg-split-backup/s3)
// and servers only through test/harness (real clusters, s3rver).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientBin, run, TestCluster, type CommandResult } from '../test/harness/index.js';
import { S3RVER_CREDENTIALS } from '../test/harness/s3-server.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** PostgreSQL major the bench runs on. */
export const MAJOR = Number(process.env.PGSB_BENCH_MAJOR ?? 15);
/** Interleaved pairs for rows 1 (and at most 10 of them for row 2). */
export const PAIRS = Number(process.env.PGSB_BENCH_PAIRS ?? 20);
/** Concurrent holders for row 3. */
export const HOLDERS = Number(process.env.PGSB_BENCH_HOLDERS ?? 50);
/** pgbench scale for row 4 (100 = ~1.5 GB; 0 skips the row). */
export const SCALE = Number(process.env.PGSB_BENCH_SCALE ?? 100);
/** Pairs for row 4. */
export const WINDOW_PAIRS = Number(process.env.PGSB_BENCH_WINDOW_PAIRS ?? 3);

/** One row of the bench table. */
export interface BenchRow {
  readonly name: string;
  readonly unit: string;
  readonly ours: number[];
  /** Measured side by side; the row's figure is then the ratio of medians. */
  readonly baseline?: number[];
  /** Ratio target (with a baseline) or an absolute maximum (without). */
  readonly target: number;
  /** Without a baseline: the figure is this percentile of `ours` (99: p99) instead of its median. */
  readonly percentile?: number;
  readonly note?: string;
}

/** What bench/run.ts hands every row. */
export interface BenchContext {
  /** A scratch directory (mode 0700), removed after the run. */
  readonly work: string;
  /** The environment for CLI runs: the process's, with XDG_STATE_HOME inside `work`. */
  readonly env: NodeJS.ProcessEnv;
  /** The shared cluster (PostgreSQL MAJOR, max_connections 200), started on first use, destroyed after the run. */
  cluster(): Promise<TestCluster>;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** The `p`th percentile of `xs`, nearest rank: the smallest value with at least p % of `xs` at or below it. */
export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

/** Milliseconds `fn` takes. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** The compiled CLI (bench/run.ts builds it first): what users run. */
export const CLI_MAIN = join(ROOT, 'dist', 'cli', 'main.js');

/** Environment assignments that let a CLI started by PostgreSQL (archive/restore_command) reach s3rver. */
export const S3RVER_ENV = `AWS_ACCESS_KEY_ID=${S3RVER_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${S3RVER_CREDENTIALS.secretAccessKey} AWS_REGION=us-east-1`;

/** archivePushCommand's --async line without its shell fast path `[ ... ] ||`: the Node path alone (the line before issue 20). */
export function nodePathOnly(line: string): string {
  // The command is what follows the shell parts' last `||`.
  const at = line.lastIndexOf(' || ');
  if (at < 0) throw new Error(`no shell fast path in ${line}`);
  return line.slice(at + 4);
}

/** The compiled CLI with `args`, its holders' runtime directory `runtimeDir`. */
export function cli(runtimeDir: string, args: string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return run(process.execPath, [CLI_MAIN, ...args, '--runtime-dir', runtimeDir], { env });
}

/**
 * A pgbench script that makes WAL fast: each transaction inserts ~2.5 MB and deletes it again (plain
 * pgbench -c 2 makes well under a segment a second here). Needs `CREATE TABLE bulk (id int, pad text)`.
 */
export const BULK_WAL_SCRIPT = "INSERT INTO bulk SELECT g, repeat(md5(g::text), 16) FROM generate_series(1, 5000) g;\nDELETE FROM bulk WHERE id <= 5000;\n";

// ---- The raw-psql baseline ----------------------------------------------------------------------
// Rows 1, 2, 4 and 6 compare the library with the same job done by hand in psql. That baseline is
// what a user would type without this library, so it types its own SQL on purpose: it must not go
// through the library's dialects, or the baseline would measure the library. Every statement it
// sends is here, in one place.

/** The SQL the raw-psql baseline sends: the backup API of MAJOR (pg_backup_* from 15, pg_*_backup before), and the recovery poll of the manual restore. */
export const RAW_SQL = {
  start: MAJOR >= 15 ? "SELECT pg_backup_start('raw', true);" : "SELECT pg_start_backup('raw', true, false);",
  stop: MAJOR >= 15 ? 'SELECT * FROM pg_backup_stop(false);' : 'SELECT * FROM pg_stop_backup(false, false);',
  inRecovery: 'SELECT pg_is_in_recovery()',
} as const;

/** psql's connection arguments for `cluster`, no psqlrc. */
export function psqlArgs(cluster: TestCluster): string[] {
  return ['-X', '-q', '-h', cluster.host, '-p', String(cluster.port), '-U', cluster.user, '-d', 'postgres'];
}

/** psql as one process holding a backup around `during`: start, wait for its answer, run `during`, stop. */
export function rawPsqlAround(cluster: TestCluster, during: () => Promise<unknown> = async () => undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(clientBin('psql'), [...psqlArgs(cluster), '-A', '-t'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let seen = 0;
    child.stdout.on('data', () => {
      if (seen++ === 0) during().then(() => child.stdin.end(`${RAW_SQL.stop}\n`), reject);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`))));
    child.stdin.write(`${RAW_SQL.start}\n`);
  });
}
