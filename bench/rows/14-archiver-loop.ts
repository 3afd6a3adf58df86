// Bench row 14 (issue 20): archive throughput past what pgbench writes here (~2 segments/s), with a
// synthetic archiver. PGSB_BENCH_LOOP_SEGMENTS (200) segments of 16 MiB are prepared in the pg_wal of
// a real, stopped PostgreSQL cluster (each its own: the first half of its pages random, the rest
// zero, the first page's long header copied from one of the cluster's own segments with its page
// address set, so pgBackRest's header check of version and system identifier passes). A producer
// marks them .ready in pg_wal/archive_status at PGSB_BENCH_LOOP_RATE (20) a second, or all at once
// (each line's ceiling); an archiver loop as pgarch.c runs one: the oldest .ready first, the line
// with %p and %f substituted through `/bin/sh -c` from the data directory as the server user (row
// 13's call), one at a time, .ready renamed to .done on exit 0, the same segment again 1 s after a
// failure; the producer wakes it as PostgreSQL's XLogArchiveNotify does. Lines:
//  - ours: archivePushCommand(DIR, { async: true }), what `archive-config --async` prints (its
//    shell fast path first), to a directory and to s3rver; the CLI through row 8's counting wrapper;
//  - pgBackRest archive-push, async, posix repository, process-max 4 (row 8's settings);
//  - cp + sync (row 8's line).
// No compression anywhere: ours stores plain (archive-push's default), pgBackRest is given
// compress-type=none (its default would be gz). Per line: the .ready backlog sampled every 200 ms,
// segments/s achieved, the drain after the producer's last .ready, CLI starts; every run checks
// that the archive holds all segments, and waits for the line's background process to exit. Runs
// (PGSB_BENCH_LOOP_ROUNDS, 2) rotate the order of the lines. Figures: at the rate, the backlog's max
// against one second of production (bounded); all at once, the time per segment against
// pgBackRest's (ours >= pgBackRest's throughput: <= 1x). Uses the compiled CLI (dist/).
// Alone: `PGSB_BENCH_ONLY=14 npm run bench`.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { archivePushCommand } from '../../src/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import { chownToServerUser, runOk, TestCluster } from '../../test/harness/index.js';
import { TestS3Server } from '../../test/harness/s3-server.js';
import { confString, s3ArchiveUrl } from '../../test/harness/wal-archive.js';
import { MAJOR, median, S3RVER_ENV, type BenchRow } from '../harness.js';
import { countedProgram, ensurePgBackRest, startCount } from './8-archive-throughput.js';
import { call, segmentName, substitute } from './13-archive-fast-path.js';

const SEGMENTS = Number(process.env.PGSB_BENCH_LOOP_SEGMENTS ?? 200);
const RATE = Number(process.env.PGSB_BENCH_LOOP_RATE ?? 20);
const ROUNDS = Number(process.env.PGSB_BENCH_LOOP_ROUNDS ?? 2);
const SEGMENT_BYTES = 16 * 2 ** 20;
/** The first segment's number: log 0x10, far past the cluster's own WAL. */
const FIRST = 0x1000;

interface Line {
  readonly key: 'ours' | 'ours-s3' | 'pgbr' | 'cp';
  readonly name: string;
  /** The archive_command for run `id` (its archive made fresh). */
  command(id: string): Promise<string>;
  /** After all .done: waits for the line's background process to exit, returns how many segments the archive holds, and removes them. */
  settle(id: string): Promise<number>;
}

interface Run {
  readonly perSecond: number;
  readonly msPerSegment: number;
  readonly backlog: number[];
  readonly drainSeconds: number;
  readonly failures: number;
  readonly starts?: number;
}

const isSegment = (n: string): boolean => /^[0-9A-F]{24}/.test(n);

async function waitGone(path: string): Promise<void> {
  for (let i = 0; i < 300 && (await stat(path).catch(() => undefined)); i++) await delay(50);
}

/** The archiver loop over `names` in `pgdata`, their .ready marked at `rate` a second (0: all at once). */
async function archive(pgdata: string, names: readonly string[], line: string, rate: number): Promise<Omit<Run, 'starts'>> {
  const status = join(pgdata, 'pg_wal', 'archive_status');
  let wake = (): void => undefined;
  const began = performance.now();
  const producer = (async () => {
    for (const [i, name] of names.entries()) {
      const wait = rate > 0 ? began + (i * 1000) / rate - performance.now() : 0;
      if (wait > 0) await delay(wait);
      await writeFile(join(status, `${name}.ready`), '');
      wake();
    }
    return performance.now();
  })();
  const backlog: number[] = [];
  let done = 0;
  let failures = 0;
  const ready = async (): Promise<string[]> => (await readdir(status)).filter((n) => n.endsWith('.ready')).sort();
  const sampler = (async () => {
    while (done < names.length) {
      backlog.push((await ready()).length);
      await delay(200);
    }
  })();
  while (done < names.length) {
    const oldest = (await ready())[0];
    if (oldest === undefined) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
      continue;
    }
    const walFile = oldest.slice(0, -'.ready'.length);
    const r = await call(substitute(line, walFile), pgdata, process.env, true);
    if (r.code === 0) {
      await rename(join(status, oldest), join(status, `${walFile}.done`));
      done++;
    } else if (++failures > 20) {
      throw new Error(`bench row 14: ${walFile} failed ${failures} times, last exit ${r.code}: ${r.output}`);
    } else {
      console.error(`bench row 14: ${walFile} exited ${r.code} (retrying in 1 s): ${r.output.trim().split('\n').at(-1) ?? ''}`);
      await delay(1000);
    }
  }
  const ended = performance.now();
  await sampler;
  const produced = await producer;
  return { perSecond: (names.length * 1000) / (ended - began), msPerSegment: (ended - began) / names.length, backlog, drainSeconds: (ended - produced) / 1000, failures };
}

/** `count` segments in `pgdata`'s pg_wal, each the cluster's long page header then half random, half zero pages. */
async function prepareSegments(cluster: TestCluster, count: number): Promise<string[]> {
  const [row] = await cluster.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f');
  const handle = await open(join(cluster.dataDir, 'pg_wal', row!.f), 'r');
  const header = Buffer.alloc(40);
  await handle.read(header, 0, 40, 0);
  await handle.close();
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = FIRST + i;
    const body = Buffer.alloc(SEGMENT_BYTES);
    randomBytes(SEGMENT_BYTES / 2).copy(body);
    header.copy(body);
    body.writeBigUInt64LE((BigInt(n >> 8) << 32n) | BigInt((n & 0xff) * SEGMENT_BYTES), 8); // xlp_pageaddr
    names.push(segmentName(n));
    await writeFile(join(cluster.dataDir, 'pg_wal', names[i]!), body);
  }
  return names;
}

const spread = (xs: number[], digits = 1): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;

export async function archiverLoop(): Promise<BenchRow[]> {
  const pgBackRest = await ensurePgBackRest();
  const base = await mkdtemp(join(tmpdir(), 'pgsb-bench-loop-'));
  await chmod(base, 0o755);
  let cluster: TestCluster | undefined;
  let s3: TestS3Server | undefined;
  try {
    cluster = await TestCluster.start({ major: MAJOR, name: 'bench-loop', settings: { archive_command: confString('true') } });
    const pgdata = cluster.dataDir;
    const spool = join(pgdata, 'pg_wal', 'pgsb-archive-push');
    const conf = join(base, 'pgbackrest.conf');
    const repo = join(base, 'repo');
    if ('version' in pgBackRest) {
      await mkdir(join(base, 'lock'));
      await writeFile(
        conf,
        `[global]\nrepo1-path=${repo}\nlock-path=${base}/lock\nspool-path=${base}/spool\nlog-path=${base}\nlog-level-file=off\nlog-level-console=warn\n` +
          `archive-async=y\nprocess-max=4\ncompress-type=none\n\n[bench]\npg1-path=${pgdata}\n`,
      );
      await chownToServerUser(base);
      await runOk('pgbackrest', [`--config=${conf}`, '--stanza=bench', `--pg1-port=${cluster.port}`, `--pg1-socket-path=${cluster.socketDir}`, `--pg1-user=${cluster.user}`, 'stanza-create'], { asServer: true });
    }
    const names = await prepareSegments(cluster, SEGMENTS);
    await cluster.stop();
    await chownToServerUser(join(pgdata, 'pg_wal'));
    s3 = await TestS3Server.start('wal');
    const server = s3;
    const dirLine = (key: Line['key'], name: string, command: (dir: string) => Promise<string>): Line => ({
      key,
      name,
      command: async (id) => {
        await mkdir(join(base, id));
        return command(join(base, id));
      },
      settle: async (id) => {
        await waitGone(join(spool, 'pusher.lock'));
        const n = (await readdir(join(base, id))).filter(isSegment).length;
        await rm(join(base, id), { recursive: true, force: true });
        return n;
      },
    });
    const lines: Line[] = [
      dirLine('ours', 'ours: archive-push --async to a directory', async (dir) => archivePushCommand(dir, { program: await countedProgram(base), async: true })),
      {
        key: 'ours-s3',
        name: 'ours: archive-push --async to s3rver',
        command: async (id) => archivePushCommand(s3ArchiveUrl(server, id), { program: await countedProgram(base, S3RVER_ENV), async: true }),
        settle: async (id) => {
          await waitGone(join(spool, 'pusher.lock'));
          const n = (await new S3WalArchive(server.storeOptions(id)).listFileNames()).filter(isSegment).length;
          await rm(join(server.directory, server.bucket, id), { recursive: true, force: true });
          return n;
        },
      },
      ...('version' in pgBackRest
        ? [
            {
              key: 'pgbr',
              name: `pgBackRest ${pgBackRest.version.replace('pgBackRest ', '')} archive-push (async, posix repo, process-max 4)`,
              command: async () => `pgbackrest --config=${conf} --stanza=bench archive-push %p`,
              settle: async () => {
                // The async process holds its lock while it works; then the repository's segment
                // directories and the spool are emptied for the next run.
                for (const lock of await readdir(join(base, 'lock'))) await waitGone(join(base, 'lock', lock));
                const archive = join(repo, 'archive', 'bench');
                const files = (await readdir(archive, { recursive: true })) as string[];
                const n = files.filter((f) => /[0-9A-F]{24}-[0-9a-f]{40}$/.test(f)).length;
                for (const version of (await readdir(archive, { withFileTypes: true })).filter((d) => d.isDirectory())) {
                  for (const dir of (await readdir(join(archive, version.name))).filter((d) => /^[0-9A-F]{16}$/.test(d))) await rm(join(archive, version.name, dir), { recursive: true });
                }
                await rm(join(base, 'spool'), { recursive: true, force: true });
                return n;
              },
            } satisfies Line,
          ]
        : []),
      dirLine('cp', 'cp + sync', async (dir) => `test ! -f ${dir}/%f && cp %p ${dir}/%f && sync ${dir}/%f`),
    ];
    const runs = new Map<string, Run[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const rate of [RATE, 0]) {
        for (let k = 0; k < lines.length; k++) {
          const line = lines[(round + k) % lines.length]!;
          const id = `${line.key}-${round}-${rate}`;
          for (const f of await readdir(join(pgdata, 'pg_wal', 'archive_status'))) await rm(join(pgdata, 'pg_wal', 'archive_status', f));
          await rm(spool, { recursive: true, force: true });
          const command = await line.command(id);
          await chownToServerUser(base); // the archive, and the counting wrapper's file it appends to
          await runOk('sync', []);
          const r = await archive(pgdata, names, command, rate);
          const starts = line.key.startsWith('ours') ? await startCount(base) : undefined;
          const settleBegan = performance.now();
          const stored = await line.settle(id);
          const settled = (performance.now() - settleBegan) / 1000;
          if (stored !== names.length) throw new Error(`bench row 14: ${line.name} stored ${stored} of ${names.length} segments (${id})`);
          console.error(`bench row 14: ${line.name}, ${rate || 'all at once'}: ${r.perSecond.toFixed(1)} segments/s, backlog max ${Math.max(...r.backlog)}, drained ${r.drainSeconds.toFixed(1)} s after${starts !== undefined ? `, ${starts} CLI starts` : ''}; settled in ${settled.toFixed(1)} s`);
          runs.set(`${line.key}-${rate}`, [...(runs.get(`${line.key}-${rate}`) ?? []), { ...r, starts }]);
        }
      }
    }
    const of = (key: string, rate: number): Run[] => runs.get(`${key}-${rate}`) ?? [];
    const facts = (rs: Run[]): string =>
      `${spread(rs.map((r) => r.perSecond))} segments/s; backlog median ${median(rs.flatMap((r) => r.backlog))}, max ${Math.max(...rs.flatMap((r) => r.backlog))}; drained ${spread(rs.map((r) => r.drainSeconds))} s after the producer's last .ready` +
      `${rs[0]?.starts !== undefined ? `; CLI starts ${rs.map((r) => r.starts).join(', ')} of ${SEGMENTS}` : ''}${rs.some((r) => r.failures > 0) ? `; failed calls ${rs.map((r) => r.failures).join(', ')}` : ''}`;
    const rows: BenchRow[] = lines.map((line) => ({
      name: `14. archiver loop, ${SEGMENTS} segments marked .ready at ${RATE}/s, ${ROUNDS} runs: ${line.name}: .ready backlog max`,
      unit: '.ready',
      ours: of(line.key, RATE).flatMap((r) => r.backlog),
      target: RATE,
      percentile: 100,
      note: `bounded: at most one second of production; ${facts(of(line.key, RATE))}`,
    }));
    const pgbr = of('pgbr', 0);
    for (const line of lines.filter((l) => l.key !== 'pgbr')) {
      rows.push({
        name: `14. archiver loop, ${SEGMENTS} segments all .ready at once (the ceiling), ${ROUNDS} runs: ${line.name}${pgbr.length ? ' vs pgBackRest async' : ''}, per segment`,
        unit: 'ms',
        ours: of(line.key, 0).map((r) => r.msPerSegment),
        ...(pgbr.length ? { baseline: pgbr.map((r) => r.msPerSegment), target: 1 } : { target: 1000 / RATE }),
        note: `${line.key === 'ours' ? '' : 'for comparison; '}${facts(of(line.key, 0))}${pgbr.length ? `; pgBackRest: ${facts(pgbr)}` : `; pgBackRest SKIPPED: ${'skipped' in pgBackRest ? pgBackRest.skipped : ''}`}`,
      });
    }
    return rows;
  } finally {
    await s3?.destroy();
    await cluster?.destroy();
    await rm(base, { recursive: true, force: true });
  }
}
