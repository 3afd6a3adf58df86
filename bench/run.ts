// `npm run bench`: measurements side by side, reported as ratios (never asserted in tests).
// Rows so far: (1) BackupSession start+stop vs a raw psql session making the same two calls: bare,
// and saving stop's output durably (fsync), which is what the library must do before anything else.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { BackupSession, MemorySummaryStore } from '../src/index.js';
import { TestCluster, clientBin, runOk } from '../test/harness/index.js';

const MAJOR = Number(process.env.PGSB_BENCH_MAJOR ?? 15);
const PAIRS = Number(process.env.PGSB_BENCH_PAIRS ?? 20);

interface Row {
  readonly name: string;
  readonly ours: number[];
  readonly baseline: number[];
  readonly target: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function libraryOverhead(cluster: TestCluster, spool: string, work: string): Promise<Row[]> {
  const startSql = MAJOR >= 15 ? "SELECT pg_backup_start('raw', true)" : "SELECT pg_start_backup('raw', true, false)";
  const stopSql = MAJOR >= 15 ? 'SELECT * FROM pg_backup_stop(false)' : 'SELECT * FROM pg_stop_backup(false, false)';
  const ours: number[] = [];
  const baseline: number[] = [];
  const durable: number[] = [];
  const psql = (): string[] => ['-X', '-q', '-h', cluster.host, '-p', String(cluster.port), '-U', cluster.user, '-d', 'postgres', '-c', startSql, '-c', stopSql];
  for (let i = 0; i < PAIRS; i++) {
    // A then B, interleaved, so drift on the machine hits both alike.
    ours.push(
      await timed(async () => {
        const session = new BackupSession({ id: `bench-${i}`, connection: cluster.connectionString, sinks: [new MemorySummaryStore()], spoolDirectory: spool, fast: true, waitForArchive: false });
        await session.start();
        await session.stop();
      }),
    );
    baseline.push(await timed(() => runOk(clientBin('psql'), psql())));
    const out = join(work, `label-${i}`);
    durable.push(await timed(() => runOk('sh', ['-c', `"$0" "$@" > ${out} && sync ${out}`, clientBin('psql'), ...psql()])));
  }
  return [
    { name: 'library start+stop vs raw psql, output saved with fsync', ours, baseline: durable, target: 1.05 },
    { name: 'library start+stop vs bare raw psql (saves nothing)', ours, baseline, target: 1.05 },
  ];
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-bench-'));
  const cluster = await TestCluster.start({ major: MAJOR, name: 'bench' });
  try {
    const rows = await libraryOverhead(cluster, join(work, 'spool'), work);
    console.log(`pg-split-backup benchmarks: PostgreSQL ${MAJOR}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${PAIRS} interleaved pairs\n`);
    console.log('| measurement | ours median ms (min-max) | baseline median ms (min-max) | ratio | target | |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    const results = rows.map((r) => {
      const ratio = median(r.ours) / median(r.baseline);
      const fmt = (xs: number[]): string => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
      console.log(`| ${r.name} | ${fmt(r.ours)} | ${fmt(r.baseline)} | ${ratio.toFixed(2)} | <= ${r.target} | ${ratio <= r.target ? 'met' : 'MISSED'} |`);
      return { ...r, ratio, oursMedian: median(r.ours), baselineMedian: median(r.baseline) };
    });
    await mkdir('bench/results', { recursive: true });
    const file = join('bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, JSON.stringify({ major: MAJOR, node: process.version, cores: cpus().length, results }, null, 2));
    console.log(`\nraw numbers: ${file}`);
  } finally {
    await cluster.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
