// `npm run bench`: measurements side by side, reported as ratios or against absolute targets
// (never asserted in tests). Prints a Markdown table and writes the raw numbers as JSON.
// One file per row in bench/rows/, what they share in bench/harness.ts; this file only sets up,
// picks the rows (`PGSB_BENCH_ONLY=3,5`: just those; default all), runs them and prints the table.
//  1. BackupSession start+stop vs a raw psql session making the same two calls (bare, and saving
//     stop's output with fsync, which is what the library must do before anything else).
//  2. The CLI's pre + post vs a raw psql process holding the session across the same two calls.
//  3. Holder footprint: RSS of one holder; 50 concurrent holders on one server.
//  4. Backup window on a pgbench cluster (PGSB_BENCH_SCALE, default 100 = ~1.5 GB): pre + tar with the
//     generated exclusions + post, vs pg_basebackup -Ft -Xnone and -Fp, vs raw psql + the same tar,
//     and vs a full pgBackRest backup (compression off, process-max 2) when pgbackrest is installed.
//  5. WAL verification over 10,000 archived segment names: filesystem, and S3 (s3rver).
//  6. The restore drill (drill()) vs the same restore by hand (cp, label, signal, start, wait).
//  7. The archive wait: stop segment archived → post notices it.
//  8. Sustained archiving under pgbench: cp + sync, archive-push, --async (with its shell fast path,
//     and without: the Node path only), pgBackRest async where installed.
//  9. Replay from s3rver through archive-get, with and without prefetch.
// 10. info (backupInfo) and info --format prometheus (in-process and CLI) over 1,000 summaries and
//     10,000 segments: filesystem and S3.
// 11. expire --dry-run over the same: filesystem and S3.
// 12. archive-push encrypted vs plain (issue 19): CLI sync and --async, in-process; directory and S3.
// 13. One archive_command call as PostgreSQL runs it (sh -c from the data directory), p50 and p99:
//     the --async line's shell fast path hit, its Node path hit, sh alone, cp + sync (issue 20).
// 14. A synthetic archiver loop (pgarch.c's: oldest .ready, one call at a time, .done on exit 0) over
//     200 prepared segments marked .ready at 20/s and all at once: ours --async (directory, s3rver)
//     vs pgBackRest async vs cp + sync (issue 20).
// 15. check on a healthy server: the compiled CLI's vs pgbackrest check, each on its own server (issue 20).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { runOk, TestCluster } from '../test/harness/index.js';
import { MAJOR, median, percentile, ROOT, type BenchContext, type BenchRow } from './harness.js';
import { closeLifecycleFixture } from './lifecycle-fixture.js';
import { libraryOverhead } from './rows/1-library-overhead.js';
import { cliOverhead } from './rows/2-cli-overhead.js';
import { holderFootprint } from './rows/3-holder-footprint.js';
import { backupWindow } from './rows/4-backup-window.js';
import { walVerification } from './rows/5-wal-verification.js';
import { restoreDrill } from './rows/6-restore-drill.js';
import { archiveWaitGap } from './rows/7-archive-wait-gap.js';
import { archiveThroughput } from './rows/8-archive-throughput.js';
import { archiveReplay } from './rows/9-archive-replay.js';
import { infoRows } from './rows/10-info.js';
import { expireDryRunRows } from './rows/11-expire-dry-run.js';
import { archiveEncryption } from './rows/12-archive-encryption.js';
import { archiveFastPath } from './rows/13-archive-fast-path.js';
import { archiverLoop } from './rows/14-archiver-loop.js';
import { checkHealthy } from './rows/15-check.js';

/** `PGSB_BENCH_ONLY=3,5`: just those rows (default: all). */
const ONLY = new Set((process.env.PGSB_BENCH_ONLY ?? '').split(',').filter(Boolean).map(Number));

// The order they run and print in (4 after 11: the long ones last), as docs/performance.md quotes it.
const ROWS: readonly (readonly [number, (ctx: BenchContext) => Promise<BenchRow[]>])[] = [
  [1, libraryOverhead],
  [2, cliOverhead],
  [3, holderFootprint],
  [5, walVerification],
  [6, restoreDrill],
  [10, infoRows],
  [11, expireDryRunRows],
  [4, backupWindow],
  [7, async () => [await archiveWaitGap()]],
  [8, () => archiveThroughput()],
  [9, () => archiveReplay()],
  [12, archiveEncryption],
  [13, archiveFastPath],
  [14, () => archiverLoop()],
  [15, checkHealthy],
];

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-bench-'));
  await runOk('npm', ['run', 'build', '--silent'], { cwd: ROOT });
  let shared: Promise<TestCluster> | undefined;
  const ctx: BenchContext = {
    work,
    env: { ...process.env, XDG_STATE_HOME: join(work, 'state') },
    cluster: () => (shared ??= TestCluster.start({ major: MAJOR, name: 'bench', settings: { max_connections: '200' } })),
  };
  try {
    const rows: BenchRow[] = [];
    for (const [n, row] of ROWS) if (ONLY.size === 0 || ONLY.has(n)) rows.push(...(await row(ctx)));
    console.log(`pg-split-backup benchmarks: PostgreSQL ${MAJOR}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}\n`);
    console.log('| measurement | ours: median (min-max) | baseline: median (min-max) | figure | target | |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    const fmt = (xs: number[], unit: string): string => `${median(xs).toFixed(1)} ${unit} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
    const results = rows.map((r) => {
      const figure = r.baseline ? median(r.ours) / median(r.baseline) : r.percentile !== undefined ? percentile(r.ours, r.percentile) : median(r.ours);
      const met = figure <= r.target;
      const shown = r.baseline ? `${figure.toFixed(2)}x` : `${r.percentile !== undefined ? `p${r.percentile} ` : ''}${figure.toFixed(1)} ${r.unit}`;
      const target = r.baseline ? `<= ${r.target}x` : `<= ${r.target} ${r.unit}`;
      console.log(`| ${r.name} | ${fmt(r.ours, r.unit)} | ${r.baseline ? fmt(r.baseline, r.unit) : '-'} | ${shown} | ${target} | ${met ? 'met' : 'MISSED'}${r.note ? `; ${r.note}` : ''} |`);
      return { ...r, figure, met };
    });
    await mkdir(join(ROOT, 'bench/results'), { recursive: true });
    const file = join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, JSON.stringify({ major: MAJOR, node: process.version, cores: cpus().length, results }, null, 2));
    console.log(`\nraw numbers: ${file}`);
  } finally {
    await (await shared?.catch(() => undefined))?.destroy();
    await rm(work, { recursive: true, force: true });
    await closeLifecycleFixture();
  }
}

await main();
