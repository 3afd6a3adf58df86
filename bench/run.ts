// `npm run bench`: measurements side by side, reported as ratios or against absolute targets
// (never asserted in tests). Prints a Markdown table and writes the raw numbers as JSON.
//  1. BackupSession start+stop vs a raw psql session making the same two calls (bare, and saving
//     stop's output with fsync, which is what the library must do before anything else).
//  2. The CLI's pre + post vs a raw psql process holding the session across the same two calls.
//  3. Holder footprint: RSS of one holder; 50 concurrent holders on one server.
//  4. Backup window on a pgbench cluster (PGSB_BENCH_SCALE, default 100 = ~1.5 GB): pre + tar with the
//     generated exclusions + post, vs pg_basebackup -Ft -Xnone and -Fp, vs raw psql + the same tar,
//     and vs a full pgBackRest backup (compression off, process-max 2) when pgbackrest is installed.
//  5. WAL verification over 10,000 archived segment names: filesystem, and S3 (s3rver).
//  6. The restore drill (drill()) vs the same restore by hand (cp, label, signal, start, wait).
//  7. The archive wait: stop segment archived → post notices it (bench/archive-wait-gap.ts).
//  8. Sustained archiving under pgbench: cp + sync, archive-push, --async, pgBackRest async where
//     installed (bench/archive-throughput.ts).
//  9. Replay from s3rver through archive-get, with and without prefetch (bench/archive-replay.ts).
// 10. info (backupInfo) over 1,000 summaries and 10,000 segments: filesystem and S3 (bench/info.ts).
// 11. expire --dry-run over the same: filesystem and S3 (bench/expire-dry-run.ts).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackupSession, FilesystemSummaryStore, FilesystemWalArchive, MemorySummaryStore, copyExclusions, drill, verifyWal, walFileName } from '../src/index.js';
import type { BackupSummary } from '../src/index.js';
import { S3WalArchive } from '../src/stores/s3.js';
import { TestCluster, chownToServerUser, clientBin, run, runOk, takeSplitBackup, untarDataDirectory } from '../test/harness/index.js';
import { TestS3Server } from '../test/harness/s3-server.js';
import { expireDryRunRows } from './rows/11-expire-dry-run.js';
import { infoRows } from './rows/10-info.js';
import { closeLifecycleFixture } from './lifecycle-fixture.js';
import { archiveReplay } from './rows/9-archive-replay.js';
import { archiveThroughput } from './rows/8-archive-throughput.js';
import { archiveWaitGap } from './rows/7-archive-wait-gap.js';
import { median, timed, type BenchRow } from './harness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAJOR = Number(process.env.PGSB_BENCH_MAJOR ?? 15);
const PAIRS = Number(process.env.PGSB_BENCH_PAIRS ?? 20);
const HOLDERS = Number(process.env.PGSB_BENCH_HOLDERS ?? 50);
const SCALE = Number(process.env.PGSB_BENCH_SCALE ?? 100);
const WINDOW_PAIRS = Number(process.env.PGSB_BENCH_WINDOW_PAIRS ?? 3);
/** `PGSB_BENCH_ONLY=3,5`: just those rows (default: all). */
const ONLY = new Set((process.env.PGSB_BENCH_ONLY ?? '').split(',').filter(Boolean).map(Number));
const want = (row: number): boolean => ONLY.size === 0 || ONLY.has(row);

type Row = BenchRow;

function psqlArgs(cluster: TestCluster): string[] {
  return ['-X', '-q', '-h', cluster.host, '-p', String(cluster.port), '-U', cluster.user, '-d', 'postgres'];
}

function backupSql(): { start: string; stop: string } {
  return MAJOR >= 15
    ? { start: "SELECT pg_backup_start('raw', true);", stop: 'SELECT * FROM pg_backup_stop(false);' }
    : { start: "SELECT pg_start_backup('raw', true, false);", stop: 'SELECT * FROM pg_stop_backup(false, false);' };
}

async function libraryOverhead(cluster: TestCluster, work: string): Promise<Row[]> {
  const sql = backupSql();
  const ours: number[] = [];
  const bare: number[] = [];
  const durable: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    // Interleaved, so drift on the machine hits both alike.
    ours.push(
      await timed(async () => {
        const session = new BackupSession({ id: `bench-${i}`, connection: cluster.connectionString, sinks: [new MemorySummaryStore()], spoolDirectory: join(work, 'spool'), fast: true, waitForArchive: false });
        await session.start();
        await session.stop();
      }),
    );
    bare.push(await timed(() => runOk(clientBin('psql'), [...psqlArgs(cluster), '-c', sql.start, '-c', sql.stop])));
    const out = join(work, `label-${i}`);
    durable.push(await timed(() => runOk('sh', ['-c', `"$0" "$@" > ${out} && sync ${out}`, clientBin('psql'), ...psqlArgs(cluster), '-c', sql.start, '-c', sql.stop])));
  }
  return [
    { name: '1. library start+stop vs raw psql saving stop output with fsync', unit: 'ms', ours, baseline: durable, target: 1.05 },
    { name: '1. library start+stop vs bare raw psql (saves nothing)', unit: 'ms', ours, baseline: bare, target: 1.05 },
  ];
}

/** psql as one process holding the session: start, wait for its answer, then stop. */
function rawPsqlHold(cluster: TestCluster): Promise<void> {
  const sql = backupSql();
  return new Promise((resolve, reject) => {
    const child = spawn(clientBin('psql'), [...psqlArgs(cluster), '-A', '-t'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let seen = 0;
    child.stdout.on('data', () => {
      if (seen++ === 0) child.stdin.end(`${sql.stop}\n`);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`))));
    child.stdin.write(`${sql.start}\n`);
  });
}

function cli(runtimeDir: string, args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [join(ROOT, 'dist/cli/main.js'), ...args, '--runtime-dir', runtimeDir], { env });
}

async function cliOverhead(cluster: TestCluster, work: string, env: NodeJS.ProcessEnv): Promise<Row> {
  const ours: number[] = [];
  const baseline: number[] = [];
  const runtimeDir = join(work, 'rt-cli');
  for (let i = 0; i < Math.min(PAIRS, 10); i++) {
    ours.push(
      await timed(async () => {
        const pre = await cli(runtimeDir, ['pre', '--id', `cli-${i}`, '--sink', join(work, 'cli-sink'), '--dbname', cluster.connectionString, '--fast', '--no-wait-archive'], env);
        if (pre.code !== 0) throw new Error(`pre: ${pre.stdout}${pre.stderr}`);
        const post = await cli(runtimeDir, ['post', '--id', `cli-${i}`], env);
        if (post.code !== 0) throw new Error(`post: ${post.stdout}${post.stderr}`);
      }),
    );
    baseline.push(await timed(() => rawPsqlHold(cluster)));
  }
  return { name: '2. CLI pre + post (compiled, plain node) vs raw psql holding the session', unit: 'ms', ours, baseline, target: 1.5 };
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function holderFootprint(cluster: TestCluster, work: string, env: NodeJS.ProcessEnv): Promise<Row[]> {
  const runtimeDir = join(work, 'rt-many');
  const pids: number[] = [];
  const began = performance.now();
  // Started a few at a time: 50 node start-ups at once on 2 cores only measure the scheduler.
  for (let i = 0; i < HOLDERS; i += 5) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(5, HOLDERS - i) }, (_, k) =>
        cli(runtimeDir, ['pre', '--id', `many-${i + k}`, '--sink', join(work, 'many-sink'), '--dbname', cluster.connectionString, '--fast', '--no-wait-archive', '--json'], env),
      ),
    );
    for (const r of batch) {
      if (r.code !== 0) throw new Error(`pre failed: ${r.stdout}${r.stderr}`);
      pids.push((JSON.parse(r.stdout) as { pid: number }).pid);
    }
  }
  const startMs = performance.now() - began;
  const rss = await Promise.all(pids.map(rssMb));
  const posts = await Promise.all(pids.map((_, i) => cli(runtimeDir, ['post', '--id', `many-${i}`], env)));
  const ok = posts.filter((p) => p.code === 0).length;
  return [
    { name: '3. RSS of one holder', unit: 'MB', ours: [rss[0]!], target: 50 },
    {
      name: `3. ${HOLDERS} concurrent holders on one server: RSS per holder`,
      unit: 'MB',
      ours: rss,
      target: 50,
      note: `${ok}/${HOLDERS} posts succeeded; total RSS ${rss.reduce((a, b) => a + b, 0).toFixed(0)} MB; all started in ${(startMs / 1000).toFixed(1)} s`,
    },
  ];
}

async function walVerification(work: string): Promise<Row> {
  const archive = join(work, 'archive-10k');
  await mkdir(archive);
  const size = 16 * 1024 * 1024;
  const names = Array.from({ length: 10_000 }, (_, i) => walFileName(1, BigInt(i + 2) * BigInt(size), size));
  for (let i = 0; i < names.length; i += 500) await Promise.all(names.slice(i, i + 500).map((n) => writeFile(join(archive, n), '')));
  const summary = {
    id: 'bench-verify',
    startWalFile: names[0]!,
    stopWalFile: names[names.length - 1]!,
    walSegmentSize: size,
    timeline: 1,
  } as unknown as BackupSummary;
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    times.push(
      await timed(async () => {
        const result = await verifyWal(summary, new FilesystemWalArchive({ directory: archive }));
        if (!result.complete || result.needed.length !== 10_000) throw new Error('verification did not see all 10,000 files');
      }),
    );
  }
  return { name: '5. verify 10,000 archived segments (filesystem)', unit: 'ms', ours: times, target: 1000 };
}

async function walVerificationS3(): Promise<Row> {
  const s3 = await TestS3Server.start('wal');
  try {
    const options = { ...s3.storeOptions('archive') };
    const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: options.endpoint, region: options.region, forcePathStyle: true, credentials: options.credentials });
    const size = 16 * 1024 * 1024;
    const names = Array.from({ length: 10_000 }, (_, i) => walFileName(1, BigInt(i + 2) * BigInt(size), size));
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(names.slice(i, i + 20).map((n) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `archive/${n}`, Body: Buffer.alloc(0), ContentLength: 0 }))));
    }
    client.destroy();
    const summary = { id: 'bench-verify-s3', startWalFile: names[0]!, stopWalFile: names.at(-1)!, walSegmentSize: size, timeline: 1 } as unknown as BackupSummary;
    const archive = new S3WalArchive(options);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      times.push(
        await timed(async () => {
          const result = await verifyWal(summary, archive);
          if (!result.complete || result.needed.length !== 10_000) throw new Error('verification did not see all 10,000 objects');
        }),
      );
    }
    return { name: '5. verify 10,000 archived segments (S3: s3rver on loopback)', unit: 'ms', ours: times, target: 5000 };
  } finally {
    await s3.destroy();
  }
}

const pgBackRestTimes: number[] = [];
const pgBackRestCleanup: (() => Promise<void>)[] = [];

/** A timed full pgBackRest backup of `cluster` (compression off, process-max 2), or undefined if not installed. */
async function pgBackRest(cluster: TestCluster, work: string): Promise<(() => Promise<void>) | undefined> {
  if ((await run('pgbackrest', ['version']).catch(() => ({ code: 1 }))).code !== 0) return undefined;
  // Its own temp dir: pgbackrest runs as the server user, who cannot enter the bench's 0700 one.
  const base = await mkdtemp(join(tmpdir(), 'pgsb-bench-pgbackrest-'));
  const conf = join(base, 'pgbackrest.conf');
  await mkdir(join(base, 'lock'), { recursive: true });
  await writeFile(
    conf,
    `[global]\nrepo1-path=${base}/repo\nlock-path=${base}/lock\nlog-path=${base}\nlog-level-file=off\nlog-level-console=warn\n` +
      `compress-type=none\nprocess-max=2\narchive-check=n\nstart-fast=y\nrepo1-retention-full=9999\n\n` +
      `[bench]\npg1-path=${cluster.dataDir}\npg1-port=${cluster.port}\npg1-socket-path=${cluster.socketDir}\npg1-user=${cluster.user}\n`,
  );
  const args = [`--config=${conf}`, '--stanza=bench'];
  pgBackRestCleanup.push(() => rm(base, { recursive: true, force: true }));
  return async () => {
    // A fresh repository each time (outside the timing), so every run is a whole full backup.
    await rm(join(base, 'repo'), { recursive: true, force: true });
    await chownToServerUser(base);
    await runOk('pgbackrest', [...args, 'stanza-create'], { asServer: true });
    pgBackRestTimes.push(await timed(() => runOk('pgbackrest', [...args, '--type=full', 'backup'], { asServer: true })));
    await rm(join(base, 'repo'), { recursive: true, force: true });
  };
}

/** psql holding a session around `during`: start, wait, run it, stop. */
function rawPsqlAround(cluster: TestCluster, during: () => Promise<unknown>): Promise<void> {
  const sql = backupSql();
  return new Promise((resolve, reject) => {
    const child = spawn(clientBin('psql'), [...psqlArgs(cluster), '-A', '-t'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let seen = 0;
    child.stdout.on('data', () => {
      if (seen++ === 0) during().then(() => child.stdin.end(`${sql.stop}\n`), reject);
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`))));
    child.stdin.write(`${sql.start}\n`);
  });
}

async function backupWindow(work: string, env: NodeJS.ProcessEnv): Promise<Row[]> {
  const cluster = await TestCluster.start({ major: MAJOR, name: 'bench-window', settings: { max_wal_size: "'4GB'" } });
  try {
    const init = await cluster.client('pgbench', ['-i', '-q', '-s', String(SCALE), 'postgres']);
    if (init.code !== 0) throw new Error(init.stderr);
    await cluster.query('CHECKPOINT');
    const excludes = join(work, 'excludes.tar');
    await writeFile(excludes, copyExclusions({ major: MAJOR, format: 'tar' }));
    const tar = async (): Promise<void> => {
      const out = join(work, 'window.tar');
      const r = await run('tar', ['-cf', out, `--exclude-from=${excludes}`, '-C', cluster.dataDir, '.']);
      if (r.code !== 0 && r.code !== 1) throw new Error(r.stderr);
      await rm(out, { force: true });
    };
    const basebackup = async (format: 'tar' | 'plain'): Promise<void> => {
      const out = join(work, `basebackup-${format}`);
      await runOk(clientBin('pg_basebackup'), ['-h', cluster.host, '-p', String(cluster.port), '-U', cluster.user, '-D', out, format === 'tar' ? '-Ft' : '-Fp', '-Xnone', '-c', 'fast']);
      await rm(out, { recursive: true, force: true });
    };
    const backRest = await pgBackRest(cluster, work);
    const runtimeDir = join(work, 'rt-window');
    const ours: number[] = [];
    const baseTar: number[] = [];
    const basePlain: number[] = [];
    const raw: number[] = [];
    // Every step writes ~1.5 GB: flush the last one's dirty pages first, outside the timing, or
    // the kernel's writeback of one step is charged to the next.
    const settle = (): Promise<unknown> => runOk('sync', []);
    for (let i = 0; i < WINDOW_PAIRS; i++) {
      await settle();
      ours.push(
        await timed(async () => {
          const pre = await cli(runtimeDir, ['pre', '--id', `window-${i}`, '--sink', join(work, 'window-sink'), '--dbname', cluster.connectionString, '--fast'], env);
          if (pre.code !== 0) throw new Error(pre.stdout + pre.stderr);
          await tar();
          const post = await cli(runtimeDir, ['post', '--id', `window-${i}`], env);
          if (post.code !== 0) throw new Error(post.stdout + post.stderr);
        }),
      );
      await settle();
      baseTar.push(await timed(() => basebackup('tar')));
      await settle();
      basePlain.push(await timed(() => basebackup('plain')));
      await settle();
      raw.push(await timed(() => rawPsqlAround(cluster, tar)));
      await settle();
      await backRest?.();
    }
    const size = `${SCALE} pgbench scale`;
    return [
      { name: `4. pre + tar + post vs pg_basebackup -Ft -Xnone (${size})`, unit: 'ms', ours, baseline: baseTar, target: 0.8 },
      { name: `4. pre + tar + post vs pg_basebackup -Fp -Xnone (${size})`, unit: 'ms', ours, baseline: basePlain, target: 0.8 },
      { name: `4. pre + tar + post vs raw psql + the same tar (${size})`, unit: 'ms', ours, baseline: raw, target: 1.05 },
      ...(backRest
        ? [{ name: `4. pre + tar + post vs pgBackRest full, no compression, process-max 2 (${size})`, unit: 'ms', ours, baseline: pgBackRestTimes, target: 1, note: 'no target in the issue: for comparison' }]
        : []),
    ];
  } finally {
    await cluster.destroy();
  }
}

async function restoreDrill(work: string): Promise<Row> {
  const cluster = await TestCluster.start({ major: MAJOR, name: 'bench-drill' });
  try {
    await cluster.client('pgbench', ['-i', '-q', '-s', '5', 'postgres']);
    const store = new FilesystemSummaryStore({ directory: join(work, 'drill-summaries') });
    const summary = await takeSplitBackup(cluster, { id: 'drill-bench', sinks: [store], tarball: join(work, 'drill.tar'), spoolDirectory: join(work, 'drill-spool') });
    const copy = await untarDataDirectory(join(work, 'drill.tar'), await mkdtemp(join(tmpdir(), 'pgsb-bench-copy-')));
    const ours: number[] = [];
    const manual: number[] = [];
    for (let i = 0; i < 3; i++) {
      ours.push(await timed(() => drill({ id: 'drill-bench', store, dataCopy: copy, walArchive: cluster.archiveDir, binDir: cluster.binDir })));
      manual.push(
        await timed(async () => {
          const scratch = await mkdtemp(join(tmpdir(), 'pgsb-bench-manual-'));
          const pgdata = join(scratch, 'data');
          await runOk('cp', ['-a', copy, pgdata]);
          await writeFile(join(pgdata, 'backup_label'), summary.labelFile);
          await writeFile(join(pgdata, 'recovery.signal'), '');
          await writeFile(join(pgdata, 'postgresql.auto.conf'), `restore_command = 'cp ${cluster.archiveDir}/%f %p'\n`, { flag: 'a' });
          await chownToServerUser(scratch);
          const opts = `-c listen_addresses='' -c unix_socket_directories='${scratch}' -c archive_mode=off -c port=5432`;
          await runOk(join(cluster.binDir, 'pg_ctl'), ['-D', pgdata, '-l', join(scratch, 'log'), '-o', opts, '-w', 'start'], { asServer: true });
          for (;;) {
            const r = await run(clientBin('psql'), ['-X', '-A', '-t', '-h', scratch, '-p', '5432', '-U', 'postgres', '-d', 'postgres', '-c', 'SELECT pg_is_in_recovery()']);
            if (r.stdout.trim() === 'f') break;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          await runOk(join(cluster.binDir, 'pg_ctl'), ['-D', pgdata, '-m', 'immediate', '-w', 'stop'], { asServer: true });
          await rm(scratch, { recursive: true, force: true });
        }),
      );
    }
    await rm(join(copy, '..'), { recursive: true, force: true });
    return { name: '6. restore drill (drill()) vs the same restore by hand', unit: 'ms', ours, baseline: manual, target: 1.05 };
  } finally {
    await cluster.destroy();
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-bench-'));
  await runOk('npm', ['run', 'build', '--silent'], { cwd: ROOT });
  const cluster = await TestCluster.start({ major: MAJOR, name: 'bench', settings: { max_connections: '200' } });
  const env = { ...process.env, XDG_STATE_HOME: join(work, 'state') };
  try {
    const rows = [
      ...(want(1) ? await libraryOverhead(cluster, work) : []),
      ...(want(2) ? [await cliOverhead(cluster, work, env)] : []),
      ...(want(3) ? await holderFootprint(cluster, work, env) : []),
      ...(want(5) ? [await walVerification(work), await walVerificationS3()] : []),
      ...(want(6) ? [await restoreDrill(work)] : []),
      ...(want(10) ? await infoRows(work) : []),
      ...(want(11) ? await expireDryRunRows(work) : []),
      ...(want(4) && SCALE > 0 ? await backupWindow(work, env) : []),
      ...(want(7) ? [await archiveWaitGap(MAJOR)] : []),
      ...(want(8) ? await archiveThroughput(MAJOR) : []),
      ...(want(9) ? await archiveReplay(MAJOR) : []),
    ];
    console.log(`pg-split-backup benchmarks: PostgreSQL ${MAJOR}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}\n`);
    console.log('| measurement | ours: median (min-max) | baseline: median (min-max) | figure | target | |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    const fmt = (xs: number[], unit: string): string => `${median(xs).toFixed(1)} ${unit} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
    const results = rows.map((r) => {
      const figure = r.baseline ? median(r.ours) / median(r.baseline) : median(r.ours);
      const met = figure <= r.target;
      const shown = r.baseline ? `${figure.toFixed(2)}x` : `${figure.toFixed(1)} ${r.unit}`;
      const target = r.baseline ? `<= ${r.target}x` : `<= ${r.target} ${r.unit}`;
      console.log(`| ${r.name} | ${fmt(r.ours, r.unit)} | ${r.baseline ? fmt(r.baseline, r.unit) : '-'} | ${shown} | ${target} | ${met ? 'met' : 'MISSED'}${r.note ? `; ${r.note}` : ''} |`);
      return { ...r, figure, met };
    });
    await mkdir(join(ROOT, 'bench/results'), { recursive: true });
    const file = join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, JSON.stringify({ major: MAJOR, node: process.version, cores: cpus().length, results }, null, 2));
    console.log(`\nraw numbers: ${file}`);
  } finally {
    await cluster.destroy();
    await rm(work, { recursive: true, force: true });
    for (const cleanup of pgBackRestCleanup) await cleanup();
    await closeLifecycleFixture();
  }
}

await main();
