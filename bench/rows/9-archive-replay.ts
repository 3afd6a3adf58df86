// Bench row: replay of the same WAL from s3rver through archive-get, with and without prefetch.
// A backup is taken, pgbench writes for a while (the WAL to replay), the archive (filled by cp) is
// copied into s3rver with archivePush, and the backup is restored twice from the same tarball:
// restore_command `archive-get --prefetch 0`, then the default (8). The figure is the ratio of the
// time from start to the end of recovery. Uses the compiled CLI (dist/).
// Alone: `npm run build && node --openssl-legacy-provider --import tsx bench/rows/9-archive-replay.ts`.
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { archiveGetCommand, archivePush, FilesystemSummaryStore, prepareRestore, quoteForShell } from '../../src/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import { runOk, TestCluster, takeSplitBackup, untarDataDirectory } from '../../test/harness/index.js';
import { TestS3Server } from '../../test/harness/s3-server.js';
import { s3ArchiveUrl } from '../../test/harness/wal-archive.js';
import { BULK_WAL_SCRIPT, CLI_MAIN, MAJOR, median, S3RVER_ENV, type BenchRow } from '../harness.js';


/** One restore_command call as the trace wrapper logged it. */
interface Call {
  readonly file: string;
  readonly ms: number;
  readonly code: number;
  /** The prefetch queue held the file when the call began. */
  readonly queued: boolean;
}

// Wraps the restore_command to log each call: start and end (ns), exit code, whether the queue
// held the file. Called as `trace.sh LOG %f 'LINE'`, LINE being the restore_command (run by sh, as
// PostgreSQL runs it). sh's own start-up (a few ms) is inside the figure, as it is for PostgreSQL.
const TRACE_WRAPPER = `#!/bin/sh
log=$1; f=$2
q=0; [ -f pg_wal/pgsb-prefetch/$f ] && q=1
s=$(date +%s%N)
sh -c "$3"
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

export async function archiveReplay(major = MAJOR, loadSeconds = 15): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-bench-replay-'));
  await chmod(work, 0o755);
  const s3 = await TestS3Server.start('wal');
  const source = await TestCluster.start({ major, name: 'bench-replay', settings: { synchronous_commit: 'off', max_wal_size: "'1GB'" } });
  try {
    const init = await source.client('pgbench', ['-i', '-q', '-s', '10', 'postgres']);
    if (init.code !== 0) throw new Error(init.stderr);
    const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
    const tarball = join(work, 'data.tar');
    const summary = await takeSplitBackup(source, { id: 'replay', sinks: [store], tarball, spoolDirectory: join(work, 'spool') });
    // WAL to replay: ~2.5 MB per transaction (plain pgbench makes too little here to matter).
    await source.query('CREATE TABLE bulk (id int, pad text)');
    const script = join(work, 'bulk.sql');
    await writeFile(script, BULK_WAL_SCRIPT);
    const load = await source.client('pgbench', ['-n', '-c', '2', '-T', String(loadSeconds), '-f', script, 'postgres']);
    if (load.code !== 0) throw new Error(load.stderr);
    await source.query('SELECT pg_switch_wal()');
    for (let i = 0; i < 300 && (await readdir(join(source.dataDir, 'pg_wal', 'archive_status'))).some((n) => n.endsWith('.ready')); i++) await delay(100);
    const archive = new S3WalArchive(s3.storeOptions('replay'));
    const names = (await readdir(source.archiveDir)).filter((n) => n >= summary.startWalFile || n.endsWith('.history'));
    for (const name of names) await archivePush(join(source.archiveDir, name), { archive });
    const url = s3ArchiveUrl(s3, 'replay');
    const times: Record<string, number> = {};
    const traces: Record<string, string> = {};
    const wrapper = join(work, 'trace.sh');
    await writeFile(wrapper, TRACE_WRAPPER, { mode: 0o755 });
    // PGSB_BENCH_REPLAY_BEFORE=/path/to/other/dist/cli/main.js: the same replays with that build too,
    // interleaved with this one's, so before and after are measured in one run on one load.
    const builds: [string, string][] = [['this build', CLI_MAIN]];
    if (process.env.PGSB_BENCH_REPLAY_BEFORE) builds.push(['before', process.env.PGSB_BENCH_REPLAY_BEFORE]);
    const runs: [string, string, number][] = [];
    for (const prefetch of [0, 8]) for (const [build, main] of builds) runs.push([build, main, prefetch]);
    for (const [build, main, prefetch] of runs) {
      const label = `${build} ${prefetch}`;
      const pgdata = await untarDataDirectory(tarball, await mkdtemp(join(work, 'r-')));
      await chmod(join(pgdata, '..'), 0o755);
      const trace = join(work, `trace-${runs.findIndex((r) => r[0] === build && r[2] === prefetch)}.log`);
      await writeFile(trace, '', { mode: 0o666 });
      await chmod(trace, 0o666);
      const line = archiveGetCommand(url, { program: `${S3RVER_ENV} ${process.execPath} ${main}`, prefetch });
      await prepareRestore({ id: 'replay', store, pgdata, restoreCommand: `${wrapper} ${trace} %f ${quoteForShell(line)}` });
      const began = performance.now();
      const restored = await TestCluster.start({ major, existingDataDir: pgdata, name: 'bench-replayed', archive: false, settings: { archive_mode: 'off' } });
      try {
        for (;;) {
          const [row] = await restored.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
          if (!row!.r) break;
          await delay(50);
        }
        times[label] = performance.now() - began;
      } finally {
        await restored.destroy();
      }
      traces[label] = describeCalls(await readTrace(trace));
      await rm(join(pgdata, '..'), { recursive: true, force: true });
    }
    const segments = names.filter((n) => /^[0-9A-F]{24}$/.test(n)).length;
    const rows: BenchRow[] = [];
    for (const [build, main] of builds) {
      const startup = await startupCosts(main);
      const without = times[`${build} 0`]!;
      const withPrefetch = times[`${build} 8`]!;
      rows.push({
        name: `replay of ${segments} segments from s3rver through archive-get (${build}): with prefetch vs without`,
        unit: 'ms',
        ours: [withPrefetch],
        baseline: [without],
        target: 0.5,
        note:
          `${(without / 1000).toFixed(1)} s without (${traces[`${build} 0`]}), ${(withPrefetch / 1000).toFixed(1)} s with (${traces[`${build} 8`]}), start to the end of recovery; ` +
          `node -e 0 takes ${startup.node.toFixed(0)} ms, the CLI's --version ${startup.cli.toFixed(0)} ms, a queue hit ${startup.hit.toFixed(1)} ms (${startup.nodeHit.toFixed(0)} ms through archive-get)`,
      });
    }
    return rows;
  } finally {
    await source.destroy();
    await s3.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.env.PGSB_BENCH_STARTUP_ONLY) {
  for (const main of process.env.PGSB_BENCH_STARTUP_ONLY.split(',')) console.log(main, await startupCosts(main));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await archiveReplay(MAJOR, Number(process.env.PGSB_BENCH_REPLAY_SECONDS ?? 15))) {
    console.log(`${row.name}: ${row.note}; ratio ${(row.ours[0]! / row.baseline![0]!).toFixed(2)}`);
  }
}
