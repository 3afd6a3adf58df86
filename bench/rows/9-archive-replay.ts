// Bench rows: replay of the same WAL from s3rver by a real PostgreSQL recovery (restore_command),
// through our archive-get with and without prefetch, and through pgBackRest's archive-get async.
// A backup is taken, pgbench writes for a while (the WAL to replay), and the archived files (by cp)
// are pushed into two repositories on one s3rver served over TLS (pgBackRest's S3 driver speaks
// only HTTPS; a self-signed certificate made with openssl): ours with archivePush, pgBackRest's with
// its archive-push (stanza-create against the source first; compress-type=none on both sides). The
// backup is then restored from the same tarball `rounds` times per line, interleaved: the line
// archiveGetCommand writes with --prefetch 0, the same with the default (8), and pgBackRest
// archive-get with archive-async=y, archive-get-queue-max=128MiB (8 segments) and process-max=4
// (our 4 parallel downloads). Only restore_command differs between them (the same copy and
// recovery settings; pgBackRest gets --pg1-path and a fresh --spool-path on its line). The figures
// are ratios of the median times from start to the end of recovery. Uses the compiled CLI (dist/).
// pgBackRest comes from bench/rows/8's ensurePgBackRest (Debian's package when root with apt-get).
// Alone: `npm run build && node --openssl-legacy-provider --import tsx bench/rows/9-archive-replay.ts`.
// To look into one line: PGSB_BENCH_REPLAY_LINES=8,pgbackrest (some of 0, 8, pgbackrest; prints
// times and calls, no rows) and PGSB_BENCH_REPLAY_TRACE_DIR=DIR (each run's call trace and
// prefetcher.log kept there).
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { archiveGetCommand, archivePush, FilesystemSummaryStore, prepareRestore, quoteForShell } from '../../src/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import { chownToServerUser, freePort, runOk, TestCluster, takeSplitBackup, untarDataDirectory } from '../../test/harness/index.js';
import { S3RVER_CREDENTIALS } from '../../test/harness/s3-server.js';
import { BULK_WAL_SCRIPT, CLI_MAIN, MAJOR, median, S3RVER_ENV, type BenchRow } from '../harness.js';
import { ensurePgBackRest } from './8-archive-throughput.js';


/** One restore_command call as the trace wrapper logged it. */
interface Call {
  readonly file: string;
  readonly ms: number;
  readonly code: number;
  /** The prefetch queue held the file when the call began. */
  readonly queued: boolean;
}

// Wraps the restore_command to log each call: start and end (ns), exit code, whether the queue
// held the file. Called as `trace.sh LOG QUEUE %f 'LINE'`, QUEUE being the directory the tool
// prefetches into (ours: pg_wal/pgsb-prefetch; pgBackRest: its spool's archive/<stanza>/in) and
// LINE the restore_command (run by sh, as PostgreSQL runs it). sh's own start-up (a few ms) is
// inside the figure, as it is for PostgreSQL; the wrapper's cost is the same for both tools.
const TRACE_WRAPPER = `#!/bin/sh
log=$1; f=$3
q=0; [ -f "$2/$f" ] && q=1
s=$(date +%s%N)
sh -c "$4"
c=$?
echo "$f $s $(date +%s%N) $c $q" >> "$log"
exit $c
`;

async function readTrace(path: string): Promise<Call[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [file, s, e, code, q] = line.split(' ');
      return { file: file!, ms: (Number(e) - Number(s)) / 1e6, code: Number(code), queued: q === '1' };
    });
}

/** Where the time of one replay went: calls by kind, with the sum and median of each. */
function describeCalls(calls: readonly Call[]): string {
  const kinds: [string, Call[]][] = [
    ['queue hits', calls.filter((c) => c.queued && c.code === 0)],
    ['fetched', calls.filter((c) => !c.queued && c.code === 0)],
    ['not found', calls.filter((c) => c.code !== 0)],
  ];
  const total = calls.reduce((n, c) => n + c.ms, 0);
  return `${calls.length} calls, ${(total / 1000).toFixed(1)} s in restore_command: ${kinds
    .filter(([, cs]) => cs.length > 0)
    .map(([k, cs]) => `${cs.length} ${k} (median ${median(cs.map((c) => c.ms)).toFixed(0)} ms)`)
    .join(', ')}`;
}

/**
 * What every restore_command call pays before its work, each a median of 10: Node's own start-up,
 * the CLI's `--version`, a prefetch-queue hit as restore_command takes it (the shell part of
 * archiveGetCommand's line), and one through `archive-get` itself (a queued file, with `main` as
 * the CLI; a small file, and no recovery.signal, so that no prefetcher stays).
 */
export async function startupCosts(main = CLI_MAIN): Promise<{ node: number; cli: number; hit: number; nodeHit: number }> {
  const time = async (file: string, args: string[], before?: () => Promise<void>, cwd?: string): Promise<number> => {
    const xs: number[] = [];
    for (let i = 0; i < 10; i++) {
      await before?.();
      const t = performance.now();
      await runOk(file, args, cwd ? { cwd } : {});
      xs.push(performance.now() - t);
    }
    return median(xs);
  };
  const pgdata = await mkdtemp(join(tmpdir(), 'pgsb-bench-hit-'));
  try {
    await mkdir(join(pgdata, 'pg_wal', 'pgsb-prefetch'), { recursive: true });
    const segment = '000000010000000000000003';
    const queued = (): Promise<void> => writeFile(join(pgdata, 'pg_wal', 'pgsb-prefetch', segment), 'x');
    const line = archiveGetCommand('s3://nowhere/wal', { program: `${process.execPath} ${main}` }).replace(/%f/g, segment).replace(/%p/g, 'pg_wal/RECOVERYXLOG');
    const hit = await time('sh', ['-c', line], queued, pgdata);
    const nodeHit = await time(process.execPath, [main, 'archive-get', segment, 'pg_wal/RECOVERYXLOG', '--archive', 's3://nowhere/wal', '--prefetch', '8'], queued, pgdata);
    return { node: await time(process.execPath, ['-e', '0']), cli: await time(process.execPath, [main, '--version']), hit, nodeHit };
  } finally {
    await rm(pgdata, { recursive: true, force: true });
  }
}

/** s3rver over TLS (pgBackRest's S3 driver speaks only HTTPS): a self-signed certificate for 127.0.0.1 made with openssl. */
interface TlsS3rver {
  readonly endpoint: string;
  readonly port: number;
  /** The certificate (PEM), for clients that check it (ours, through NODE_EXTRA_CA_CERTS). */
  readonly certFile: string;
  readonly cert: Buffer;
  close(): Promise<void>;
}

async function startTlsS3rver(dir: string, bucket: string): Promise<TlsS3rver> {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  await chmod(certFile, 0o644);
  const [key, cert] = [await readFile(keyFile), await readFile(certFile)];
  const port = await freePort();
  // key and cert are s3rver options the harness's type declaration leaves out: passed as a variable.
  const options = { address: '127.0.0.1', port, silent: true, directory: join(dir, 's3'), configureBuckets: [{ name: bucket }], key, cert };
  const server = new S3rver(options);
  await server.run();
  return { endpoint: `https://127.0.0.1:${port}`, port, certFile, cert, close: () => server.close() };
}

/** The pgBackRest side: a stanza `bench` in an S3 repository on `s3`, archive-get async with a queue of 8 segments and 4 processes. */
async function pgBackRestRepo(base: string, s3: TlsS3rver, source: TestCluster): Promise<{ conf: string; push(file: string): Promise<void>; restoreCommand(pgdata: string, spool: string): string }> {
  const conf = join(base, 'pgbackrest.conf');
  await mkdir(join(base, 'lock'), { recursive: true });
  await writeFile(
    conf,
    `[global]\nrepo1-type=s3\nrepo1-path=/pgbackrest\nrepo1-s3-bucket=wal\nrepo1-s3-endpoint=127.0.0.1\nrepo1-storage-port=${s3.port}\n` +
      `repo1-s3-region=us-east-1\nrepo1-s3-key=${S3RVER_CREDENTIALS.accessKeyId}\nrepo1-s3-key-secret=${S3RVER_CREDENTIALS.secretAccessKey}\n` +
      `repo1-s3-uri-style=path\nrepo1-storage-verify-tls=n\nlock-path=${base}/lock\nlog-path=${base}\nlog-level-file=off\nlog-level-console=warn\n` +
      `spool-path=${base}/spool\narchive-async=y\narchive-get-queue-max=128MiB\nprocess-max=4\ncompress-type=none\n\n[bench]\npg1-path=${source.dataDir}\n`,
  );
  await chownToServerUser(base);
  const pgbackrest = (args: string[]): Promise<unknown> => runOk('pgbackrest', [`--config=${conf}`, '--stanza=bench', ...args], { asServer: true });
  await pgbackrest([`--pg1-port=${source.port}`, `--pg1-socket-path=${source.socketDir}`, `--pg1-user=${source.user}`, 'stanza-create']);
  return {
    conf,
    // Pushed one by one, synchronously (async push reads pg_wal/archive_status, these are copies).
    push: async (file) => void (await pgbackrest(['--no-archive-async', 'archive-push', file])),
    restoreCommand: (pgdata, spool) => `pgbackrest --config=${conf} --stanza=bench --pg1-path=${pgdata} --spool-path=${spool} archive-get %f "%p"`,
  };
}

const PGBACKREST = 'pgBackRest';

/** `values` as "median (min-max)" with `digits` decimals. */
const spread = (values: number[], digits = 1): string => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;

export async function archiveReplay(major = MAJOR, loadSeconds = Number(process.env.PGSB_BENCH_REPLAY_SECONDS ?? 25), rounds = Number(process.env.PGSB_BENCH_REPLAY_ROUNDS ?? 3)): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-bench-replay-'));
  await chmod(work, 0o755);
  const pgBackRest = await ensurePgBackRest();
  const s3 = await startTlsS3rver(work, 'wal');
  const source = await TestCluster.start({ major, name: 'bench-replay', settings: { synchronous_commit: 'off', max_wal_size: "'1GB'" } });
  try {
    const init = await source.client('pgbench', ['-i', '-q', '-s', '10', 'postgres']);
    if (init.code !== 0) throw new Error(init.stderr);
    const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
    const tarball = join(work, 'data.tar');
    const summary = await takeSplitBackup(source, { id: 'replay', sinks: [store], tarball, spoolDirectory: join(work, 'spool') });
    const pgbrBase = join(work, 'pgbackrest');
    await mkdir(pgbrBase);
    const repo = 'version' in pgBackRest ? await pgBackRestRepo(pgbrBase, s3, source) : undefined;
    // WAL to replay: ~2.5 MB per transaction (plain pgbench makes too little here to matter).
    await source.query('CREATE TABLE bulk (id int, pad text)');
    const script = join(work, 'bulk.sql');
    await writeFile(script, BULK_WAL_SCRIPT);
    const load = await source.client('pgbench', ['-n', '-c', '2', '-T', String(loadSeconds), '-f', script, 'postgres']);
    if (load.code !== 0) throw new Error(load.stderr);
    await source.query('SELECT pg_switch_wal()');
    for (let i = 0; i < 300 && (await readdir(join(source.dataDir, 'pg_wal', 'archive_status'))).some((n) => n.endsWith('.ready')); i++) await delay(100);
    // The same files (archived by cp) into both repositories on the one s3rver: ours in-process, pgBackRest's with its archive-push.
    const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS, requestHandler: { httpsAgent: new Agent({ ca: s3.cert }) } });
    const archive = new S3WalArchive({ bucket: 'wal', prefix: 'replay', client });
    const names = (await readdir(source.archiveDir)).filter((n) => n >= summary.startWalFile || n.endsWith('.history'));
    for (const name of names) await archivePush(join(source.archiveDir, name), { archive });
    client.destroy();
    for (const name of names) await repo?.push(join(source.archiveDir, name));
    const url = `s3://wal/replay?endpoint=${s3.endpoint}&forcePathStyle=true&region=us-east-1`;
    const wrapper = join(work, 'trace.sh');
    await writeFile(wrapper, TRACE_WRAPPER, { mode: 0o755 });
    // PGSB_BENCH_REPLAY_BEFORE=/path/to/other/dist/cli/main.js: the same replays with that build too,
    // interleaved with this one's, so before and after are measured in one run on one load.
    const builds: [string, string][] = [['this build', CLI_MAIN]];
    if (process.env.PGSB_BENCH_REPLAY_BEFORE) builds.push(['before', process.env.PGSB_BENCH_REPLAY_BEFORE]);
    // One round: each build without prefetch and with the default (8), then pgBackRest; `rounds` of them, interleaved.
    type Run = { readonly label: string; restoreCommand(pgdata: string, spool: string): string; readonly queue: (spool: string) => string };
    const round: Run[] = [];
    const only = process.env.PGSB_BENCH_REPLAY_LINES?.split(',');
    for (const prefetch of [0, 8].filter((p) => only === undefined || only.includes(String(p)))) {
      for (const [build, main] of builds) {
        // The line archiveGetCommand writes (its shell parts first), the CLI reaching s3rver over TLS with its certificate.
        const line = archiveGetCommand(url, { program: `NODE_EXTRA_CA_CERTS=${s3.certFile} ${S3RVER_ENV} ${process.execPath} ${main}`, ...(prefetch === 8 ? {} : { prefetch }) });
        round.push({ label: `${build} ${prefetch}`, restoreCommand: () => line, queue: () => 'pg_wal/pgsb-prefetch' });
      }
    }
    if (repo && (only === undefined || only.includes('pgbackrest'))) round.push({ label: PGBACKREST, restoreCommand: repo.restoreCommand, queue: (spool) => join(spool, 'archive', 'bench', 'in') });
    const times: Record<string, number[]> = {};
    const traces: Record<string, { ms: number; calls: string }[]> = {};
    let n = 0;
    for (let r = 0; r < rounds; r++) {
      for (const run of round) {
        const parent = await mkdtemp(join(work, 'r-'));
        const pgdata = await untarDataDirectory(tarball, parent);
        const spool = join(parent, 'pgbackrest-spool');
        await mkdir(spool);
        await chownToServerUser(spool);
        const trace = join(work, `trace-${n++}.log`);
        await writeFile(trace, '', { mode: 0o666 });
        await chmod(trace, 0o666);
        // Only restore_command differs between the runs: the same copy, the same recovery settings.
        const line = run.restoreCommand(pgdata, spool);
        await prepareRestore({ id: 'replay', store, pgdata, restoreCommand: `${wrapper} ${trace} ${run.queue(spool)} %f ${quoteForShell(line)}` });
        const began = performance.now();
        const restored = await TestCluster.start({ major, existingDataDir: pgdata, name: 'bench-replayed', archive: false, settings: { archive_mode: 'off' } });
        let ms: number;
        try {
          for (;;) {
            const [row] = await restored.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
            if (!row!.r) break;
            await delay(50);
          }
          ms = performance.now() - began;
        } finally {
          await restored.destroy();
        }
        if (process.env.PGSB_BENCH_REPLAY_TRACE_DIR) {
          const keep = join(process.env.PGSB_BENCH_REPLAY_TRACE_DIR, `${n - 1}-${run.label.replace(/\W+/g, '_')}`);
          await mkdir(keep, { recursive: true });
          await writeFile(join(keep, 'trace.log'), await readFile(trace));
          await writeFile(join(keep, 'prefetcher.log'), await readFile(join(pgdata, 'pg_wal', 'pgsb-prefetch', 'prefetcher.log')).catch(() => ''));
          await writeFile(join(keep, 'ms'), String(ms));
        }
        (times[run.label] ??= []).push(ms);
        (traces[run.label] ??= []).push({ ms, calls: describeCalls(await readTrace(trace)) });
        await rm(parent, { recursive: true, force: true });
      }
    }
    if (only !== undefined) {
      // An experiment on some lines only: their times and calls, no rows.
      for (const [label, ms] of Object.entries(times)) console.error(`${label}: ${ms.map((x) => (x / 1000).toFixed(1)).join(' ')} s; ${traces[label]!.map((t) => t.calls).join(' | ')}`);
      return [];
    }
    const segments = names.filter((name) => /^[0-9A-F]{24}$/.test(name)).length;
    // The calls of the run whose time is the median (the upper one of an even count).
    const medianCalls = (label: string): string => {
      const runs = [...traces[label]!].sort((a, b) => a.ms - b.ms);
      return runs[runs.length >> 1]!.calls;
    };
    const seconds = (label: string): string => `${spread(times[label]!.map((ms) => ms / 1000))} s`;
    const perSecond = (label: string): string => `${spread(times[label]!.map((ms) => segments / (ms / 1000)))} segments/s`;
    const rows: BenchRow[] = [];
    for (const [build, main] of builds) {
      const startup = await startupCosts(main);
      const [without, withPrefetch] = [`${build} 0`, `${build} 8`];
      rows.push({
        name: `replay of ${segments} segments from s3rver (TLS) through archive-get (${build}): with prefetch vs without`,
        unit: 'ms',
        ours: times[withPrefetch]!,
        baseline: times[without]!,
        target: 0.5,
        note:
          `${rounds} runs each, start to the end of recovery: ${seconds(without)} without (median run: ${medianCalls(without)}), ${seconds(withPrefetch)} with (median run: ${medianCalls(withPrefetch)}); ` +
          `node -e 0 takes ${startup.node.toFixed(0)} ms, the CLI's --version ${startup.cli.toFixed(0)} ms, a queue hit ${startup.hit.toFixed(1)} ms (${startup.nodeHit.toFixed(0)} ms through archive-get)`,
      });
    }
    const name = `replay of ${segments} segments from s3rver (TLS) by PostgreSQL recovery: ours (archiveGetCommand's line, prefetch 8) vs pgBackRest archive-get async (queue 128MiB, process-max 4)`;
    if ('skipped' in pgBackRest) {
      console.error(`bench row 9: pgBackRest comparison skipped: ${pgBackRest.skipped}`);
      rows.push({ name, unit: 'ms', ours: times['this build 8']!, target: Infinity, note: `SKIPPED: ${pgBackRest.skipped}` });
    } else {
      rows.push({
        name,
        unit: 'ms',
        ours: times['this build 8']!,
        baseline: times[PGBACKREST]!,
        target: 1,
        note:
          `${pgBackRest.version}, compress-type=none, the same copy with only restore_command differing; ${rounds} runs each, interleaved: ` +
          `ours ${seconds('this build 8')}, ${perSecond('this build 8')}; pgBackRest ${seconds(PGBACKREST)}, ${perSecond(PGBACKREST)}; ` +
          `median runs: ours ${medianCalls('this build 8')}; pgBackRest ${medianCalls(PGBACKREST)}`,
      });
    }
    return rows;
  } finally {
    await source.destroy();
    await s3.close();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.env.PGSB_BENCH_STARTUP_ONLY) {
  for (const main of process.env.PGSB_BENCH_STARTUP_ONLY.split(',')) console.log(main, await startupCosts(main));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await archiveReplay()) {
    console.log(`${row.name}: ${row.note}${row.baseline ? `; ratio of medians ${(median(row.ours) / median(row.baseline)).toFixed(2)}` : ''}`);
  }
}
