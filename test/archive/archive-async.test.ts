// archive-push --async on a real server: the pusher is SIGKILLed again and again while pgbench
// fills segments, and the archive directory disappears for a while (the target down, then up).
// PostgreSQL retries, nothing is lost: every segment from the first through the last archived is in
// the archive, whole, and no .ready file is left once the writes stop.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { archivePushCommand } from '../../src/index.js';
import { chownToServerUser, smokeMajor, TestCluster } from '../harness/index.js';
import { confString, PGSB_PROGRAM } from '../harness/wal-archive.js';

const MAJOR = smokeMajor();

async function readyCount(cluster: TestCluster): Promise<number> {
  return (await readdir(join(cluster.dataDir, 'pg_wal', 'archive_status'))).filter((n) => n.endsWith('.ready')).length;
}

async function pusherPid(spool: string): Promise<number | undefined> {
  try {
    return (JSON.parse(await readFile(join(spool, 'pusher.lock'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

test(`PostgreSQL ${MAJOR}, archive-push --async: the pusher SIGKILLed mid-push and the target gone for a while lose nothing`, async () => {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-archive-async-'));
  await chmod(work, 0o755);
  const wal = join(work, 'wal');
  await mkdir(wal);
  await chownToServerUser(wal);
  const cluster = await TestCluster.start({
    major: MAJOR,
    name: 'archive-async',
    walSegmentSizeMb: MAJOR >= 11 ? 1 : undefined, // many small segments: many pushes to kill
    settings: { archive_command: confString(archivePushCommand(wal, { program: PGSB_PROGRAM, async: true })) },
  });
  const spool = join(cluster.dataDir, 'pg_wal', 'pgsb-archive-push');
  try {
    assert.equal((await cluster.client('pgbench', ['-i', '-q', '-s', '2', 'postgres'])).code, 0);
    const load = cluster.client('pgbench', ['-n', '-c', '2', '-T', '8', 'postgres']);
    let kills = 0;
    // Up to ~10 s: on a loaded machine the pusher may be between runs when we look, so a look
    // that finds none also switches WAL to give it work.
    for (let i = 0; i < 100 && kills < 4; i++) {
      await delay(100);
      const pid = await pusherPid(spool);
      if (pid === undefined) {
        await cluster.query('SELECT pg_switch_wal()');
        continue;
      }
      try {
        process.kill(pid, 'SIGKILL');
        kills++;
      } catch {
        // already gone
      }
    }
    assert.ok(kills >= 2, `killed the pusher ${kills} times`);
    // The target goes away: the pusher fails, the command exits 1, PostgreSQL keeps the WAL.
    const [before] = await cluster.query<{ failed: number }>('SELECT failed_count::int AS failed FROM pg_stat_archiver');
    await rename(wal, `${wal}.away`);
    await cluster.query('SELECT pg_switch_wal()');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [now] = await cluster.query<{ failed: number }>('SELECT failed_count::int AS failed FROM pg_stat_archiver');
      if (now!.failed > before!.failed) break;
      assert.ok(Date.now() < deadline, 'archive_command never failed while the target was away');
      await delay(200);
    }
    await rename(`${wal}.away`, wal);
    assert.equal((await load).code, 0);
    await cluster.query('CREATE TABLE after_load AS SELECT 1 AS x');
    const [switched] = await cluster.query<{ file: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS file');
    // A bound, not a speed check: after the outage PostgreSQL's archiver may sleep up to 60 s
    // between rounds (it backs off after three failures), and a new segment wakes it; each of the
    // ~30 segments left is one archive_command (a Node start-up), seconds apiece on a loaded machine.
    for (let i = 0; (await readyCount(cluster)) > 0; i++) {
      assert.ok(i < 2400, `.ready files left: ${await readyCount(cluster)}`);
      if (i % 50 === 49) await cluster.query('SELECT pg_switch_wal()');
      await delay(100);
    }
    const names = (await readdir(wal)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
    assert.ok(names.includes(switched!.file), `${switched!.file} is archived`);
    const [{ size }] = (await cluster.query<{ size: number }>("SELECT setting::int * (CASE WHEN unit = '8kB' THEN 8192 WHEN unit = 'MB' THEN 1048576 ELSE 1 END) AS size FROM pg_settings WHERE name = 'wal_segment_size'")) as [{ size: number }];
    const first = BigInt(`0x${names[0]!.slice(8)}`);
    names.forEach((name, i) => assert.equal(BigInt(`0x${name.slice(8)}`) - first, BigInt(i), `no gap at ${name}`));
    for (const name of names) assert.equal((await stat(join(wal, name))).size, size, `${name} is whole`);
    assert.ok(names.length >= 5, `${names.length} segments archived`);
  } finally {
    const pid = await pusherPid(spool);
    await cluster.destroy();
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(work, { recursive: true, force: true });
  }
});
