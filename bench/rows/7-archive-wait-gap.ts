// Bench row: how long after the stop segment is archived does stop() (post) notice it? The
// archive_command sleeps 400 ms first, so the archive wait always has to poll; the gap is stop()'s
// return minus the archived file's mtime. Run alone: `node --import tsx bench/rows/7-archive-wait-gap.ts`.
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupSession, MemorySummaryStore } from '../../src/index.js';
import { chownToServerUser, TestCluster } from '../../test/harness/index.js';
import { MAJOR, median, type BenchRow } from '../harness.js';

/** The gap on `iterations` backups of an idle PostgreSQL `major` whose archive_command takes `delayMs`. */
export async function archiveWaitGap(major = MAJOR, iterations = 10, delayMs = 400): Promise<BenchRow> {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-bench-gap-'));
  const wal = join(work, 'wal');
  await mkdir(wal);
  await chownToServerUser(work);
  const cluster = await TestCluster.start({
    major,
    name: 'bench-gap',
    settings: { archive_command: `'sleep ${delayMs / 1000} && test ! -f ${wal}/%f && cp %p ${wal}/%f'` },
  });
  const gaps: number[] = [];
  try {
    for (let i = 0; i < iterations; i++) {
      const session = new BackupSession({ id: `gap-${i}`, connection: cluster.connectionString, sinks: [new MemorySummaryStore()], spoolDirectory: join(work, 'spool'), fast: true });
      await session.start();
      const { summary } = await session.stop();
      const noticed = Date.now();
      gaps.push(noticed - (await stat(join(wal, summary.stopWalFile))).mtimeMs);
    }
  } finally {
    await cluster.destroy();
    await rm(work, { recursive: true, force: true });
  }
  return {
    name: `archive wait: stop segment archived → post notices (archive_command takes ${delayMs} ms)`,
    unit: 'ms',
    ours: gaps,
    target: 100,
    note: `median ${median(gaps).toFixed(0)} ms, max ${Math.max(...gaps).toFixed(0)} ms over ${iterations} backups`,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const row = await archiveWaitGap(MAJOR, Number(process.env.PGSB_BENCH_GAP_ITERATIONS ?? 10));
  console.log(JSON.stringify({ ...row, ours: row.ours.map((g) => Math.round(g)) }));
}
