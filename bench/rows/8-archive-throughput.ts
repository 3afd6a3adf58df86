// Bench rows: sustained archiving under pgbench write load, one row per archive_command: cp + sync,
// archive-push (sync), archive-push --async and pgBackRest's async archive-push to a posix
// repository (bench set-up installs Debian's pgbackrest when it can: root and apt-get; otherwise
// the row says it was skipped and why), then archive-push sync and --async to s3rver (in this
// process, as the tests run it). Each gets a fresh cluster; the figure is the .ready
// backlog sampled every 500 ms (does it pile up?), the note the segments archived per second and
// the drain time after the load stops. Uses the compiled CLI (dist/): what users run.
// The --async lines start with archivePushCommand's shell fast path (issue 20); the "Node path only"
// lines are the same command without it (what --async was before), run in the same bench for the
// comparison. For every --async line the CLI is started through a wrapper that counts its starts,
// so the note says how many archive_command calls started Node (the rest were answered by the shell).
// Alone: `npm run build && node --import tsx bench/rows/8-archive-throughput.ts`.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { archivePushCommand } from '../../src/index.js';
import { chownToServerUser, run, runOk, TestCluster } from '../../test/harness/index.js';
import { TestS3Server } from '../../test/harness/s3-server.js';
import { confString, s3ArchiveUrl } from '../../test/harness/wal-archive.js';
import { BULK_WAL_SCRIPT, CLI_MAIN, MAJOR, median, nodePathOnly, S3RVER_ENV, type BenchRow } from '../harness.js';

const DIST_PROGRAM = `${process.execPath} ${CLI_MAIN}`;
const S3_PROGRAM = `${S3RVER_ENV} ${DIST_PROGRAM}`;

interface Mode {
  readonly name: string;
  /** archive_command for an archive in `dir` (or in `s3`); `base` is a scratch directory the server user owns. */
  command(dir: string, base: string, s3: () => Promise<TestS3Server>): Promise<string>;
}

async function pgBackRestVersion(): Promise<string | undefined> {
  const r = await run('pgbackrest', ['version']).catch(() => ({ code: 1, stdout: '' }));
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * Bench set-up for the pgBackRest column: its version, installing Debian's package first when it is
 * missing and this is root with apt-get (PGSB_BENCH_NO_INSTALL=1 skips that); otherwise why not.
 */
export async function ensurePgBackRest(): Promise<{ version: string } | { skipped: string }> {
  const version = await pgBackRestVersion();
  if (version) return { version };
  if (process.env.PGSB_BENCH_NO_INSTALL) return { skipped: 'pgbackrest is not installed (PGSB_BENCH_NO_INSTALL set: not installing it)' };
  if (process.getuid?.() !== 0 || (await run('sh', ['-c', 'command -v apt-get']).catch(() => ({ code: 1 }))).code !== 0) {
    return { skipped: 'pgbackrest is not installed, and this is not root with apt-get: run `apt-get install -y pgbackrest` to get the column' };
  }
  console.error('bench set-up: installing pgbackrest (apt-get install -y pgbackrest) for the pgBackRest columns');
  const r = await run('apt-get', ['install', '-y', '-q', 'pgbackrest'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const after = await pgBackRestVersion();
  return after ? { version: after } : { skipped: `apt-get install -y pgbackrest failed (exit ${r.code}): ${r.stderr.trim().split('\n').at(-1) ?? ''}` };
}

/** Where a counted program appends a line per start. */
const STARTS = 'cli-starts';

/**
 * The compiled CLI through a wrapper in `base` that appends a line to `base/cli-starts` and execs
 * it (a few ms of sh on a ~200 ms Node start), with `env` assignments first.
 */
export async function countedProgram(base: string, env = ''): Promise<string> {
  const wrapper = join(base, 'pgsb-counted');
  await writeFile(wrapper, `#!/bin/sh\necho >> ${join(base, STARTS)}\nexec ${DIST_PROGRAM} "$@"\n`, { mode: 0o755 });
  await writeFile(join(base, STARTS), '');
  return `${env ? `${env} ` : ''}${wrapper}`;
}

/** How many times the program from {@link countedProgram} in `base` started (undefined: never made there). */
export async function startCount(base: string): Promise<number | undefined> {
  const text = await readFile(join(base, STARTS), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : text.split('\n').length - 1;
}

const MODES: Mode[] = [
  { name: 'cp + sync', command: async (dir) => `test ! -f ${dir}/%f && cp %p ${dir}/%f && sync ${dir}/%f` },
  { name: 'archive-push (sync)', command: async (dir) => archivePushCommand(dir, { program: DIST_PROGRAM }) },
  { name: 'archive-push --async', command: async (dir, base) => archivePushCommand(dir, { program: await countedProgram(base), async: true }) },
  { name: 'archive-push --async, Node path only', command: async (dir, base) => nodePathOnly(archivePushCommand(dir, { program: await countedProgram(base), async: true })) },
  { name: 'archive-push (sync) to s3rver', command: async (_dir, _base, s3) => archivePushCommand(s3ArchiveUrl(await s3(), 'sync'), { program: S3_PROGRAM }) },
  { name: 'archive-push --async to s3rver', command: async (_dir, base, s3) => archivePushCommand(s3ArchiveUrl(await s3(), 'async'), { program: await countedProgram(base, S3RVER_ENV), async: true }) },
  {
    name: 'archive-push --async to s3rver, Node path only',
    command: async (_dir, base, s3) => nodePathOnly(archivePushCommand(s3ArchiveUrl(await s3(), 'async-node'), { program: await countedProgram(base, S3RVER_ENV), async: true })),
  },
  {
    name: 'pgBackRest archive-push (async, posix repo)',
    command: async (dir, base) => {
      const conf = join(base, 'pgbackrest.conf');
      await mkdir(join(base, 'lock'), { recursive: true });
      await mkdir(join(base, 'spool'), { recursive: true });
      await writeFile(
        conf,
        `[global]\nrepo1-path=${dir}\nlock-path=${base}/lock\nspool-path=${base}/spool\nlog-path=${base}\nlog-level-file=off\nlog-level-console=warn\n` +
          `archive-async=y\nprocess-max=4\ncompress-type=none\n\n[bench]\npg1-path=PGDATA\n`,
      );
      await chownToServerUser(base);
      return `pgbackrest --config=${conf} --stanza=bench archive-push %p`;
    },
  },
];

async function readyCount(cluster: TestCluster): Promise<number> {
  return (await readdir(join(cluster.dataDir, 'pg_wal', 'archive_status')).catch(() => [] as string[])).filter((n) => n.endsWith('.ready')).length;
}

async function archivedCount(cluster: TestCluster): Promise<number> {
  const [row] = await cluster.query<{ n: number }>('SELECT archived_count::int AS n FROM pg_stat_archiver');
  return row!.n;
}

/** One row per mode (pgBackRest only where installed or installable): `seconds` of pgbench -c 2 on PostgreSQL `major`. */
export async function archiveThroughput(major = MAJOR, seconds = 20): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const pgBackRest = await ensurePgBackRest();
  let s3: TestS3Server | undefined;
  const startS3 = async (): Promise<TestS3Server> => (s3 ??= await TestS3Server.start('wal'));
  try {
    // PGSB_BENCH_ARCHIVE_MODES=s3rver,pgBackRest: only the modes whose names contain one of these.
    const only = (process.env.PGSB_BENCH_ARCHIVE_MODES ?? '').split(',').filter(Boolean);
    for (const mode of MODES.filter((m) => only.length === 0 || only.some((o) => m.name.includes(o)))) {
      if (mode.name.startsWith('pgBackRest') && 'skipped' in pgBackRest) {
        console.error(`bench row 8: pgBackRest column skipped: ${pgBackRest.skipped}`);
        rows.push({ name: `archiving under a pgbench write load: ${mode.name}`, unit: '.ready', ours: [0], target: 4, note: `SKIPPED: ${pgBackRest.skipped}` });
        continue;
      }
      const base = await mkdtemp(join(tmpdir(), 'pgsb-bench-archive-'));
      const dir = join(base, 'wal');
      await mkdir(dir);
      await chownToServerUser(base);
      let cluster: TestCluster | undefined;
      try {
        const command = await mode.command(dir, base, startS3);
        await chownToServerUser(base);
        cluster = await TestCluster.start({ major, name: 'bench-archive', settings: { archive_command: confString('true'), max_wal_size: "'1GB'", synchronous_commit: 'off' } });
        if (mode.name.startsWith('pgBackRest')) {
          const conf = join(base, 'pgbackrest.conf');
          await runOk('sed', ['-i', `s#PGDATA#${cluster.dataDir}#`, conf]);
          await chownToServerUser(base);
          await runOk('pgbackrest', [`--config=${conf}`, '--stanza=bench', `--pg1-port=${cluster.port}`, `--pg1-socket-path=${cluster.socketDir}`, `--pg1-user=${cluster.user}`, 'stanza-create'], { asServer: true });
          // archive-push takes no pg1-port/socket options (it reads pg_control, never connects): only stanza-create gets them.
        }
        // A write load that makes WAL fast (plain pgbench -c 2 makes well under a segment a second
        // here): each transaction inserts ~2.5 MB and deletes it again, synchronous_commit off.
        await cluster.query('CREATE TABLE bulk (id int, pad text)');
        const script = join(base, 'bulk.sql');
        await writeFile(script, BULK_WAL_SCRIPT);
        await cluster.setSettings({ archive_command: command });
        await cluster.query('SELECT pg_switch_wal()');
        // Let the backlog of the load phase drain first, so every mode starts from zero.
        for (let i = 0; i < 600 && (await readyCount(cluster)) > 0; i++) await delay(100);
        const startArchived = await archivedCount(cluster);
        const startStarts = await startCount(base);
        const began = performance.now();
        const load = cluster.client('pgbench', ['-n', '-c', '2', '-T', String(seconds), '-f', script, 'postgres']).then((r) => {
          if (r.code !== 0) throw new Error(`pgbench: ${r.stderr}`);
        });
        const backlog: number[] = [];
        let done = false;
        void load.finally(() => (done = true)).catch(() => undefined);
        while (!done) {
          backlog.push(await readyCount(cluster));
          await delay(500);
        }
        await load;
        const loadSeconds = (performance.now() - began) / 1000;
        const duringLoad = (await archivedCount(cluster)) - startArchived;
        const drainBegan = performance.now();
        for (let i = 0; i < 1200 && (await readyCount(cluster)) > 0; i++) await delay(100);
        const drain = (performance.now() - drainBegan) / 1000;
        const total = (await archivedCount(cluster)) - startArchived;
        const endStarts = await startCount(base);
        const starts = startStarts !== undefined && endStarts !== undefined ? `; ${endStarts - startStarts} CLI starts for these ${total} segments` : '';
        rows.push({
          name: `archiving under a pgbench write load (-c 2, ${seconds} s): ${mode.name}`,
          unit: '.ready',
          ours: backlog,
          target: 4,
          note: `${mode.name.startsWith('pgBackRest') && 'version' in pgBackRest ? `${pgBackRest.version}; ` : ''}${(duringLoad / loadSeconds).toFixed(1)} segments/s archived during the load (${total} in all, ${(total / loadSeconds).toFixed(1)}/s written); backlog at the end ${backlog[backlog.length - 1] ?? 0}, max ${Math.max(...backlog)}, drained ${drain.toFixed(1)} s after${starts}`,
        });
      } finally {
        await cluster?.destroy();
        await rm(base, { recursive: true, force: true });
      }
    }
  } finally {
    await s3?.destroy();
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await archiveThroughput(MAJOR, Number(process.env.PGSB_BENCH_ARCHIVE_SECONDS ?? 20))) {
    console.log(`${row.name}: backlog median ${median(row.ours)} (${Math.min(...row.ours)}-${Math.max(...row.ours)}); ${row.note}`);
  }
}
