// Bench row 15 (issue 20): `check` on a healthy server, the compiled CLI's against `pgbackrest
// check`. Each tool needs its own archive_command (check refuses a line that is not its own), so
// two PostgreSQL MAJOR servers run side by side: one archiving with our sync archive-push into a
// directory (check --store an empty directory store, --wal-archive that directory), the other with
// pgBackRest's sync archive-push into a posix repository (compress-type=none, as ours stores plain).
// Both checks switch WAL and wait for that segment in the archive. PGSB_BENCH_CHECK_PAIRS (7) pairs,
// alternating which goes first, after one untimed warm-up each; every check must exit 0. Figures:
// ours against the 5 s, and ours against pgBackRest's (no target in the issue).
// Alone: `PGSB_BENCH_ONLY=15 npm run bench`.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archivePushCommand } from '../../src/index.js';
import { chownToServerUser, runOk, TestCluster } from '../../test/harness/index.js';
import { CLI_MAIN, cli, MAJOR, median, timed, type BenchContext, type BenchRow } from '../harness.js';
import { ensurePgBackRest } from './8-archive-throughput.js';

const PAIRS = Number(process.env.PGSB_BENCH_CHECK_PAIRS ?? 7);

export async function checkHealthy({ work, env }: BenchContext): Promise<BenchRow[]> {
  const pgBackRest = await ensurePgBackRest();
  // Its own temp dir: the servers' archive commands run as the server user, who cannot enter `work`.
  const base = await mkdtemp(join(tmpdir(), 'pgsb-bench-check-'));
  await chmod(base, 0o755);
  const clusters: TestCluster[] = [];
  try {
    const wal = join(base, 'wal');
    const store = join(base, 'summaries');
    await mkdir(wal);
    await mkdir(store);
    await chownToServerUser(base);
    const ours = await TestCluster.start({ major: MAJOR, name: 'bench-check-ours' });
    clusters.push(ours);
    await ours.setSettings({ archive_command: archivePushCommand(wal, { program: `${process.execPath} ${CLI_MAIN}` }) });
    const runtime = join(work, 'check-runtime');
    const oursCheck = async (): Promise<void> => {
      const r = await cli(runtime, ['check', '--store', store, '--wal-archive', wal, '--dbname', ours.connectionString], env);
      if (r.code !== 0) throw new Error(`bench row 15: check exited ${r.code}:\n${r.stdout}${r.stderr}`);
    };
    const sides: Record<'ours' | 'pgbr', { check: () => Promise<void>; times: number[]; warm: number }> = { ours: { check: oursCheck, times: [], warm: 0 }, pgbr: { check: async () => undefined, times: [], warm: 0 } };
    if ('version' in pgBackRest) {
      const theirs = await TestCluster.start({ major: MAJOR, name: 'bench-check-pgbr' });
      clusters.push(theirs);
      const conf = join(base, 'pgbackrest.conf');
      await mkdir(join(base, 'lock'));
      await writeFile(
        conf,
        `[global]\nrepo1-path=${base}/repo\nlock-path=${base}/lock\nlog-path=${base}\nlog-level-file=off\nlog-level-console=warn\ncompress-type=none\n\n` +
          `[bench]\npg1-path=${theirs.dataDir}\npg1-port=${theirs.port}\npg1-socket-path=${theirs.socketDir}\npg1-user=${theirs.user}\n`,
      );
      await chownToServerUser(base);
      const pgbackrest = (command: string): Promise<unknown> => runOk('pgbackrest', [`--config=${conf}`, '--stanza=bench', command], { asServer: true });
      await pgbackrest('stanza-create');
      await theirs.setSettings({ archive_command: `pgbackrest --config=${conf} --stanza=bench archive-push %p` });
      sides.pgbr.check = async () => void (await pgbackrest('check'));
    }
    const active = 'version' in pgBackRest ? (['ours', 'pgbr'] as const) : (['ours'] as const);
    for (const side of active) sides[side].warm = await timed(sides[side].check);
    for (let i = 0; i < PAIRS; i++) {
      for (const side of i % 2 === 0 ? active : [...active].reverse()) sides[side].times.push(await timed(sides[side].check));
    }
    const warm = `first (untimed) check ${sides.ours.warm.toFixed(0)} ms`;
    const rows: BenchRow[] = [
      { name: `15. check on a healthy PostgreSQL ${MAJOR} (compiled CLI, sync archive-push to a directory), ${PAIRS} runs`, unit: 'ms', ours: sides.ours.times, target: 5000, note: `the issue's bound; ${warm}` },
    ];
    if ('version' in pgBackRest) {
      rows.push({
        name: `15. check (ours) vs pgbackrest check (${pgBackRest.version}, sync archive-push, posix repo), each on its own server, ${PAIRS} pairs`,
        unit: 'ms',
        ours: sides.ours.times,
        baseline: sides.pgbr.times,
        target: 1,
        note: `no target in the issue (for comparison); ${warm}, pgBackRest's ${sides.pgbr.warm.toFixed(0)} ms`,
      });
    } else {
      rows.push({ name: '15. check (ours) vs pgbackrest check', unit: 'ms', ours: [0], target: 1, note: `SKIPPED: ${pgBackRest.skipped}` });
    }
    console.error(`bench row 15: ours ${median(sides.ours.times).toFixed(0)} ms, pgBackRest ${sides.pgbr.times.length ? median(sides.pgbr.times).toFixed(0) : '-'} ms`);
    return rows;
  } finally {
    for (const c of clusters) await c.destroy();
    await rm(base, { recursive: true, force: true });
  }
}
