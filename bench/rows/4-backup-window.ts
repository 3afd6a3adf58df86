// Row 4: backup window on a pgbench cluster (PGSB_BENCH_SCALE, default 100 = ~1.5 GB; 0 skips the
// row): pre + tar with the generated exclusions + post, vs pg_basebackup -Ft -Xnone and -Fp, vs raw
// psql + the same tar, and vs a full pgBackRest backup (compression off, process-max 2) when
// pgbackrest is installed.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyExclusions } from '../../src/index.js';
import { chownToServerUser, clientBin, run, runOk, TestCluster } from '../../test/harness/index.js';
import { cli, MAJOR, rawPsqlAround, SCALE, timed, WINDOW_PAIRS, type BenchContext, type BenchRow } from '../harness.js';

interface PgBackRest {
  /** One timed full backup into a fresh repository; its time goes to `times`. */
  backup(): Promise<void>;
  readonly times: number[];
  cleanup(): Promise<void>;
}

/** A full pgBackRest backup of `cluster` (compression off, process-max 2), or undefined if not installed. */
async function pgBackRest(cluster: TestCluster): Promise<PgBackRest | undefined> {
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
  const times: number[] = [];
  return {
    times,
    backup: async () => {
      // A fresh repository each time (outside the timing), so every run is a whole full backup.
      await rm(join(base, 'repo'), { recursive: true, force: true });
      await chownToServerUser(base);
      await runOk('pgbackrest', [...args, 'stanza-create'], { asServer: true });
      times.push(await timed(() => runOk('pgbackrest', [...args, '--type=full', 'backup'], { asServer: true })));
      await rm(join(base, 'repo'), { recursive: true, force: true });
    },
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

export async function backupWindow({ work, env }: BenchContext): Promise<BenchRow[]> {
  if (SCALE <= 0) return [];
  const cluster = await TestCluster.start({ major: MAJOR, name: 'bench-window', settings: { max_wal_size: "'4GB'" } });
  let backRest: PgBackRest | undefined;
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
    backRest = await pgBackRest(cluster);
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
      await backRest?.backup();
    }
    const size = `${SCALE} pgbench scale`;
    return [
      { name: `4. pre + tar + post vs pg_basebackup -Ft -Xnone (${size})`, unit: 'ms', ours, baseline: baseTar, target: 0.8 },
      { name: `4. pre + tar + post vs pg_basebackup -Fp -Xnone (${size})`, unit: 'ms', ours, baseline: basePlain, target: 0.8 },
      { name: `4. pre + tar + post vs raw psql + the same tar (${size})`, unit: 'ms', ours, baseline: raw, target: 1.05 },
      ...(backRest
        ? [{ name: `4. pre + tar + post vs pgBackRest full, no compression, process-max 2 (${size})`, unit: 'ms', ours, baseline: backRest.times, target: 1, note: 'no target in the issue: for comparison' }]
        : []),
    ];
  } finally {
    await cluster.destroy();
    await backRest?.cleanup();
  }
}
