// Issue 18, as a DBA meets it after an incident, on real servers archiving into one archive:
// backups A and B on timeline 1 (B after restore point `fork`), A's copy restored to `fork` and
// promoted (timeline 2, archiving into the same archive as its copy's configuration says), backup C
// on timeline 2. Every backup must drill with the default options, before and after expire; B stays
// on timeline 1 (timeline 2 left it before B ends). On 15 also a second fork (timeline 3 from B's
// copy). One major of 10-11 (recovery.conf, no 'current') and Debian's 15.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { FilesystemSummaryStore, isBackupError, prepareRestore } from '../../src/index.js';
import { runCli } from '../../src/cli/main.js';
import { contentSnapshot } from '../bad-input/cases.js';
import { TestCluster, binDirFor, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';
import { runOk } from '../harness/os-user.js';

async function cli(args: string[]): Promise<{ code: number; out: string; json: any }> {
  let out = '';
  const code = await runCli([...args, '--json'], { stdout: (t) => (out += t), stderr: (t) => (out += t) });
  return { code, out, json: JSON.parse(out.split('\n')[0]!) };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await delay(100)) if (await check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

const MAJORS = [15, 11].filter((m) => testMajors().includes(m));

for (const MAJOR of MAJORS) {
  describe(`PostgreSQL ${MAJOR}: every kept backup restores after a point-in-time recovery forked the timeline`, () => {
    const servers: TestCluster[] = [];
    let primary: TestCluster;
    let work: string;
    let archive: string;
    let store: FilesystemSummaryStore;
    const tar = (id: string): string => join(work, `${id}.tar`);
    const own = MAJOR >= 12 ? 'current' : 1;
    // The restored servers archive into production's archive, as their copies' configuration says;
    // a segment both timelines hold (the switch) is already there and identical.
    const archiveCommand = (): string => `'(test ! -f ${archive}/%f && cp %p ${archive}/%f) || cmp -s %p ${archive}/%f'`;
    const take = (cluster: TestCluster, id: string): Promise<unknown> => takeSplitBackup(cluster, { id, sinks: [store], tarball: tar(id), spoolDirectory: join(work, 'spool') });
    const archived = async (cluster: TestCluster): Promise<void> => {
      const [row] = await cluster.query<{ f: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS f');
      await waitFor(`${row!.f} archived`, async () => (await readFile(join(archive, row!.f)).then(() => true, () => false)));
    };
    const drill = async (id: string, checks: string[], extra: string[] = []): Promise<any> => {
      const copy = await untarDataDirectory(tar(id), await mkdtemp(join(work, `copy-${id}-`)));
      const run = await cli(['drill', '--id', id, '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, '--bin-dir', binDirFor(MAJOR), '--timeout', '120s', ...checks.flatMap((c) => ['--check-sql', c]), ...extra]);
      await rm(join(copy, '..'), { recursive: true, force: true });
      assert.equal(run.code, 0, run.out);
      return run.json;
    };
    /** Restores `id`'s copy to `target` (promote) and starts it as a new server archiving into the archive. */
    const fork = async (id: string, name: string, restoreArgs: string[]): Promise<{ server: TestCluster; report: any }> => {
      let report: any;
      const server = await TestCluster.start({
        major: MAJOR,
        name,
        settings: { archive_command: archiveCommand() },
        prepareDataDir: async (dir) => {
          await runOk('mkdir', ['-m', '700', dir]);
          await runOk('tar', ['-xf', tar(id), '-C', dir]);
          const run = await cli(['restore', '--id', id, '--store', store.directory, '--pgdata', dir, '--wal-archive', archive, '--target-action', 'promote', ...restoreArgs]);
          assert.equal(run.code, 0, run.out);
          report = run.json;
        },
      });
      servers.push(server);
      await waitFor(`${name} promoted`, async () => (await server.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r === false);
      return { server, report };
    };
    const rows = (vs: string[]): string => `SELECT count(*) = ${vs.length} FROM t WHERE v IN (${vs.map((v) => `'${v}'`).join(', ')})`;
    const absent = (v: string): string => `SELECT count(*) = 0 FROM t WHERE v = '${v}'`;
    const LSN = /^[0-9A-F]+\/[0-9A-F]+$/;
    /** The `parentTLI switchpoint` pairs of an archived history file. */
    const history = async (tli: number): Promise<[number, string][]> =>
      [...(await readFile(join(archive, `${tli.toString(16).toUpperCase().padStart(8, '0')}.history`), 'utf8')).matchAll(/^(\d+)\s+(\S+)/gm)].map((m) => [Number(m[1]), m[2]!]);

    before(async () => {
      work = await mkdtemp(join(tmpdir(), `pgsb-timeline-${MAJOR}-`));
      await runOk('chmod', ['755', work]);
      primary = await TestCluster.start({ major: MAJOR, name: 'tl-primary' });
      servers.push(primary);
      archive = primary.archiveDir;
      store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
      await primary.query('CREATE TABLE t (v text)');
      await take(primary, 'A');
      await primary.query("INSERT INTO t VALUES ('after-A')");
      await primary.query("SELECT pg_create_restore_point('fork')");
      await primary.query("INSERT INTO t VALUES ('b-only')");
      await take(primary, 'B');
      await primary.query("INSERT INTO t VALUES ('after-B')");
      await primary.query("SELECT pg_create_restore_point('fork2')");
      await primary.query("INSERT INTO t VALUES ('after-fork2')");
      await archived(primary);
    });
    after(async () => {
      for (const s of servers.reverse()) await s.destroy().catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    });

    test('the PITR of A to `fork` becomes timeline 2 and archives into the same archive; restore says the copy would', async () => {
      const { server, report } = await fork('A', 'tl-restored', ['--target-name', 'fork']);
      assert.ok(report.notes.some((n: string) => n.includes('same archive')), JSON.stringify(report.notes));
      assert.equal(report.timeline.setting, 'latest');
      await waitFor('00000002.history', async () => (await readFile(join(archive, '00000002.history')).then(() => true, () => false)));
      assert.deepEqual((await server.query<{ v: string }>('SELECT v FROM t ORDER BY v')).map((r) => r.v), ['after-A']);
      await server.query("INSERT INTO t VALUES ('on-2')");
      await take(server, 'C');
      await server.query("INSERT INTO t VALUES ('after-C')");
      await archived(server);
    });

    test('drill with the defaults: A follows timeline 2, B stays on timeline 1 with its own rows, C restores', async () => {
      const a = await drill('A', [rows(['after-A', 'on-2', 'after-C']), absent('b-only')]);
      assert.equal(a.timeline.setting, 'latest');
      assert.equal(a.timeline.timeline, 2);
      const b = await drill('B', [rows(['after-A', 'b-only', 'after-B', 'after-fork2']), absent('on-2')]);
      assert.equal(b.timeline.setting, own);
      assert.equal(b.timeline.timeline, 1);
      assert.match(b.timeline.reason, /forked off timeline 1 at \S+, before the backup ends/);
      const c = await drill('C', [rows(['after-A', 'on-2', 'after-C']), absent('b-only')]);
      assert.equal(c.timeline.setting, 'latest');
    });

    test('info lists the timelines each backup restores onto; verify checks the one restore chooses', async () => {
      const info = await cli(['info', '--store', store.directory, '--wal-archive', archive]);
      assert.equal(info.code, 0, info.out);
      const onto = Object.fromEntries(info.json.clusters[0].backups.map((b: any) => [b.id, b.timelines.map((t: any) => `${t.timeline}${t.chosen ? '*' : ''}`)]));
      assert.deepEqual(onto, { A: ['1', '2*'], B: ['1*'], C: ['2*'] });
      for (const b of info.json.clusters[0].backups) {
        for (const t of b.timelines) {
          assert.match(t.endLsn, LSN, `${b.id} ${JSON.stringify(t)}`);
          assert.ok(t.endWalFile.startsWith(t.timeline.toString(16).toUpperCase().padStart(8, '0')), `${b.id} ${JSON.stringify(t)}`);
        }
      }
      const verify = await cli(['verify', '--id', 'A', '--store', store.directory, '--wal-archive', archive]);
      assert.equal(verify.code, 0, verify.out);
      assert.ok(verify.json.needed.includes('00000002.history'), 'the way to timeline 2 is checked');
      assert.equal(verify.json.timeline.timeline, 2);
      // B's WAL is checked on timeline 1, where restore keeps it.
      const verifyB = await cli(['verify', '--id', 'B', '--store', store.directory, '--wal-archive', archive]);
      assert.equal(verifyB.code, 0, verifyB.out);
      assert.deepEqual([verifyB.json.timeline.setting, verifyB.json.timeline.timeline], [own, 1]);
      assert.ok(verifyB.json.needed.every((f: string) => !f.startsWith('00000002')), JSON.stringify(verifyB.json.needed));
    });

    test('--target-timeline: one that left the backup before it ends is refused, nothing changed; a bad value too', async () => {
      const copy = await untarDataDirectory(tar('B'), await mkdtemp(join(work, 'refuse-')));
      const before = await contentSnapshot(copy);
      const [[parent, forkLsn]] = (await history(2)) as [[number, string]];
      assert.equal(parent, 1);
      const refused = await cli(['restore', '--id', 'B', '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, '--target-timeline', '2']);
      assert.equal(refused.code, 2, refused.out);
      assert.equal(refused.json.error.code, 'TIMELINE_UNREACHABLE');
      assert.ok(refused.json.error.message.includes(`left timeline 1 at ${forkLsn}`), refused.json.error.message);
      for (const value of ['--target-timeline=abc', '--target-timeline=0', '--target-timeline=-1']) {
        const bad = await cli(['restore', '--id', 'B', '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, value]);
        assert.equal(bad.code, 2, `${value}: ${bad.out}`);
        assert.deepEqual([bad.json.error.code, bad.json.error.details?.option], ['INVALID_OPTION', 'target-timeline'], value);
      }
      // The library refuses the same way.
      await assert.rejects(prepareRestore({ id: 'B', store, pgdata: copy, walArchive: archive, targetTimeline: 2 }), (e) => isBackupError(e) && e.code === 'TIMELINE_UNREACHABLE' && e.message.includes(forkLsn));
      assert.deepEqual(await contentSnapshot(copy), before, 'byte for byte');
      // The same copy restores with a timeline that holds it, written as asked.
      const ok = await cli(['restore', '--id', 'B', '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, '--target-timeline', 'current']);
      assert.equal(ok.code, 0, ok.out);
      const config = await readFile(join(copy, MAJOR >= 12 ? 'postgresql.auto.conf' : 'recovery.conf'), 'utf8');
      assert.match(config, MAJOR >= 12 ? /recovery_target_timeline = 'current'/ : /recovery_target_timeline = '1'/);
      await rm(join(copy, '..'), { recursive: true, force: true });
    });

    test('with only a --restore-command no history is read: latest, unchecked', async () => {
      const copy = await untarDataDirectory(tar('B'), await mkdtemp(join(work, 'command-')));
      const run = await cli(['restore', '--id', 'B', '--store', store.directory, '--pgdata', copy, '--restore-command', `cp ${archive}/%f %p`]);
      assert.equal(run.code, 0, run.out);
      assert.deepEqual([run.json.timeline.setting, run.json.timeline.checked], ['latest', false]);
      await rm(join(copy, '..'), { recursive: true, force: true });
    });

    test('--archive-mode off: the restored copy archives nothing', async () => {
      const { server, report } = await fork('C', 'tl-noarchive', ['--target', 'immediate', '--archive-mode', 'off']);
      assert.ok(report.notes.some((n: string) => /archive_mode = 'off'/.test(n)));
      assert.ok(!report.notes.some((n: string) => n.includes('same archive')), JSON.stringify(report.notes));
      assert.match(await readFile(join(server.dataDir, 'postgresql.auto.conf'), 'utf8'), /^archive_mode = 'off'/m);
      assert.equal((await server.query<{ archive_mode: string }>('SHOW archive_mode'))[0]!.archive_mode, 'off');
      await server.destroy();
    });

    if (MAJOR === 15) {
      test('a second fork (timeline 3 from B, on timeline 1): A and B follow it, C stays on timeline 2', async () => {
        const { server, report } = await fork('B', 'tl-second', ['--target-name', 'fork2', '--target-timeline', 'current']);
        assert.deepEqual([report.timeline.setting, report.timeline.timeline], ['current', 1]);
        await waitFor('00000003.history', async () => (await readFile(join(archive, '00000003.history')).then(() => true, () => false)));
        // Forked from timeline 1 (not 2): its history is 1 alone.
        assert.deepEqual((await history(3)).map(([parent]) => parent), [1]);
        await server.query('CHECKPOINT');
        assert.equal((await server.query<{ t: number }>('SELECT timeline_id AS t FROM pg_control_checkpoint()'))[0]!.t, 3);
        await server.query("INSERT INTO t VALUES ('on-3')");
        await archived(server);
        const a = await drill('A', [rows(['after-A', 'b-only', 'on-3']), absent('on-2')]);
        assert.deepEqual([a.timeline.setting, a.timeline.timeline], ['latest', 3]);
        // Timeline 3 left timeline 1 at `fork2`: the row written after it is not on it.
        const b = await drill('B', [rows(['b-only', 'after-B', 'on-3']), absent('after-fork2')]);
        assert.deepEqual([b.timeline.setting, b.timeline.timeline], ['latest', 3]);
        const c = await drill('C', [rows(['on-2', 'after-C']), absent('on-3')]);
        assert.deepEqual([c.timeline.setting, c.timeline.timeline], ['current', 2]);
      });
    }

    test('expire --keep-last 2, then 1: what stays still drills with the defaults', async () => {
      const two = await cli(['expire', '--store', store.directory, '--wal-archive', archive, '--keep-last', '2']);
      assert.equal(two.code, 0, two.out);
      assert.deepEqual(two.json.removedSummaries, ['A']);
      await drill('B', [rows(['b-only'])]);
      await drill('C', [rows(['on-2'])]);
      const one = await cli(['expire', '--store', store.directory, '--wal-archive', archive, '--keep-last', '1']);
      assert.equal(one.code, 0, one.out);
      assert.deepEqual(one.json.removedSummaries, ['B']);
      assert.deepEqual(await store.list(), ['C']);
      // The last drill also leaves its outcome for node_exporter.
      const metricsFile = join(work, 'drill.prom');
      await drill('C', [rows(['on-2', 'after-C'])], ['--metrics-file', metricsFile]);
      const metrics = await readFile(metricsFile, 'utf8');
      assert.match(metrics, /^pgsb_drill_success\{id="C"\} 1$/m);
      assert.match(metrics, /^pgsb_drill_checks_failed\{id="C"\} 0$/m);
      assert.ok(Math.abs(Number(/^pgsb_drill_timestamp_seconds\{id="C"\} (\S+)$/m.exec(metrics)?.[1]) - Date.now() / 1000) < 600, metrics);
    });
  });
}
