// info, expire and drill against real servers (one major: the rules do not differ per major): a
// primary, a streaming standby promoted to timeline 2, and a backup of each kind — primary on
// timeline 1, standby, self-contained (--include-wal), primary on timeline 2 — all archiving into
// one archive. After each expire every kept backup's WAL is complete, and one restores (drill).
import assert from 'node:assert/strict';
import { chmod, cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  FilesystemSummaryStore,
  FilesystemWalArchive,
  neededWalFiles,
  planExpiry,
  readArchiveListing,
  readCatalogue,
  verifyWal,
  type BackupSummary,
} from '../../src/index.js';
import { runCli } from '../../src/cli/main.js';
import { S3SummaryStore, S3WalArchive } from '../../src/stores/s3.js';
import { TestCluster, smokeMajor, startStandby, takeSplitBackup, untarDataDirectory } from '../harness/index.js';
import { TestS3Server, S3RVER_CREDENTIALS } from '../harness/s3-server.js';

async function cli(args: string[]): Promise<{ code: number; out: string; json: any }> {
  let out = '';
  const code = await runCli([...args, '--json'], { stdout: (t) => (out += t), stderr: (t) => (out += t) });
  return { code, out, json: JSON.parse(out.split('\n')[0]!) };
}

async function waitForFile(dir: string, name: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await readdir(dir)).includes(name)) return;
    await delay(100);
  }
  throw new Error(`${name} never reached ${dir}`);
}

const MAJOR = smokeMajor();
const step = (what: string): void => {
  if (process.env.PGSB_TEST_TRACE) console.error(`${new Date().toISOString()} ${what}`);
};

describe(`PostgreSQL ${MAJOR}: info, expire and drill over a history with a promotion`, () => {
  let primary: TestCluster;
  let standby: TestCluster;
  let work: string;
  let archive: string;
  let store: FilesystemSummaryStore;
  const summaries: Record<string, BackupSummary> = {};
  const tar = (id: string): string => join(work, `${id}.tar`);

  before(async () => {
    primary = await TestCluster.start({ major: MAJOR, name: 'life-primary' });
    work = await mkdtemp(join(tmpdir(), 'pgsb-lifecycle-'));
    await chmod(work, 0o755);
    archive = primary.archiveDir;
    store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
    const take = async (cluster: TestCluster, id: string, session = {}): Promise<BackupSummary> =>
      (summaries[id] = await takeSplitBackup(cluster, { id, sinks: [store], tarball: tar(id), spoolDirectory: join(work, 'spool'), session }));
    await primary.query('CREATE TABLE canary (n int)');
    await take(primary, 'b1-primary');
    step("await take(primary, 'b1-primary');");
    standby = await startStandby(primary, { name: 'life-standby' });
    step("standby = await startStandby(primary, { name: 'life-standby' });");
    // After its promotion the standby archives into the same archive (its timeline 2 and history file).
    // Idempotent for a segment both servers have (a promotion on a segment boundary archives the
    // old timeline's last full segment, which the primary archived too): otherwise its archiver
    // would retry forever and the post of b4 would wait for its archive timeout.
    await standby.query(`ALTER SYSTEM SET archive_command = '(test ! -f ${archive}/%f && cp %p ${archive}/%f) || cmp -s %p ${archive}/%f'`);
    await standby.query('SELECT pg_reload_conf()');
    await take(standby, 'b2-standby', { waitForArchive: false });
    step("await take(standby, 'b2-standby', { waitForArchive: false });");
    await primary.query('SELECT pg_switch_wal()');
    await waitForFile(archive, summaries['b2-standby']!.stopWalFile);
    step("await waitForFile(archive, summaries['b2-standby']!.stopWalFile);");
    await take(primary, 'b3-selfcontained', { includeWal: true });
    step("await take(primary, 'b3-selfcontained', { includeWal: true });");
    await delay(300); // the standby replays what b3 wrote before it is promoted
    await standby.query('SELECT pg_promote(true, 60)');
    step("await standby.query('SELECT pg_promote(true, 60)');");
    await waitForFile(archive, '00000002.history');
    step("await waitForFile(archive, '00000002.history');");
    await take(standby, 'b4-timeline2');
    step("await take(standby, 'b4-timeline2');");
    await standby.query('INSERT INTO canary VALUES (4)');
    const [sw] = await standby.query<{ f: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS f');
    await waitForFile(archive, sw!.f);
    step('await waitForFile(archive, sw!.f);');
  });
  after(async () => {
    await standby?.destroy();
    await primary?.destroy();
    await rm(work, { recursive: true, force: true });
  });

  test('info: four backups of one cluster, the standby and self-contained ones flagged, both timelines, the window on timeline 2', async () => {
    const { code, json, out } = await cli(['info', '--store', store.directory, '--wal-archive', archive]);
    assert.equal(code, 0, out);
    assert.equal(json.clusters.length, 1);
    const backups = json.clusters[0].backups as { id: string; backupFrom: string; selfContained: boolean; timeline: number; wal: { complete: boolean } }[];
    assert.deepEqual(backups.map((b) => b.id), ['b1-primary', 'b2-standby', 'b3-selfcontained', 'b4-timeline2']);
    assert.deepEqual(backups.map((b) => [b.backupFrom, b.selfContained, b.timeline, b.wal.complete]), [
      ['primary', false, 1, true],
      ['standby', false, 1, true],
      ['primary', true, 1, true],
      ['primary', false, 2, true],
    ]);
    const timelines = json.archive.timelines as { timeline: number; historyFile?: string; gaps: unknown[] }[];
    assert.deepEqual(timelines.map((t) => [t.timeline, t.historyFile ?? null]), [
      [1, null],
      [2, '00000002.history'],
    ]);
    assert.equal(json.clusters[0].window.fromBackup, 'b1-primary');
    assert.equal(json.clusters[0].window.to.timeline, 2);
  });

  test('S3: expire --keep-last 2 on a copy in s3rver removes b1 and b2 and the WAL before b3; what stays restores b4', async () => {
    const server = await TestS3Server.start('life');
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    try {
      const s3Store = new S3SummaryStore(server.storeOptions('sum'));
      for (const s of Object.values(summaries)) await s3Store.write(s);
      const walOptions = server.storeOptions('wal');
      const { PutObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
      const client = new S3Client({ ...walOptions, maxAttempts: 3 });
      const { readFile } = await import('node:fs/promises');
      const names = await readdir(archive);
      for (const name of names) await client.send(new PutObjectCommand({ Bucket: walOptions.bucket, Key: `wal/${name}`, Body: await readFile(join(archive, name)) }));
      client.destroy();
      const url = (prefix: string): string => `s3://${server.bucket}/${prefix}?endpoint=${encodeURIComponent(server.endpoint)}&region=us-east-1&forcePathStyle=true`;
      const dry = await cli(['expire', '--store', url('sum'), '--wal-archive', url('wal'), '--keep-last', '2', '--dry-run']);
      assert.equal(dry.code, 0, dry.out);
      const run = await cli(['expire', '--store', url('sum'), '--wal-archive', url('wal'), '--keep-last', '2']);
      assert.equal(run.code, 0, run.out);
      assert.deepEqual(run.json.removedSummaries, ['b1-primary', 'b2-standby']);
      assert.deepEqual(run.json.removedWal, dry.json.plan.wal.remove.map((f: { name: string }) => f.name));
      const s3Archive = new S3WalArchive(walOptions);
      const left = new Set(await s3Archive.listFileNames());
      const b3start = summaries['b3-selfcontained']!.startWalFile;
      for (const name of run.json.removedWal as string[]) assert.ok(name.startsWith('00000001') && name.slice(8, 24) < b3start.slice(8), `${name} is before b3's start`);
      assert.ok(left.has('00000002.history'));
      assert.equal((await verifyWal(summaries['b4-timeline2']!, s3Archive)).complete, true);
      assert.deepEqual(await s3Store.list(), ['b3-selfcontained', 'b4-timeline2']);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      await server.destroy();
    }
  });

  test('refusals on copies of the archive: a gap in b4\'s range, or a missing 00000002.history, delete no WAL (exit 6)', async () => {
    for (const [what, victim] of [
      ['gap', neededWalFiles(summaries['b4-timeline2']!)[1]!],
      ['history', '00000002.history'],
    ] as const) {
      const copy = join(work, `archive-${what}`);
      await cp(archive, copy, { recursive: true });
      await rm(join(copy, victim));
      const before = (await readdir(copy)).length;
      const run = await cli(['expire', '--store', store.directory, '--wal-archive', copy, '--keep-last', '4']);
      assert.equal(run.code, 6, run.out);
      assert.equal(run.json.error.code, 'ARCHIVE_MISMATCH');
      assert.match(run.json.error.message, what === 'gap' ? /b4-timeline2 needs .*gap inside a kept backup's range/ : /timeline 2, but the archive has no 00000002\.history/);
      assert.equal((await readdir(copy)).length, before);
    }
  });

  test('expire on the live archive (keep-last 3, then 2): kept backups keep their WAL; a drill of b4 passes its checks, a failing check exits 7', async () => {
    const three = await cli(['expire', '--store', store.directory, '--wal-archive', archive, '--keep-last', '3']);
    assert.equal(three.code, 0, three.out);
    assert.deepEqual(three.json.removedSummaries, ['b1-primary']);
    assert.equal((await verifyWal(summaries['b2-standby']!, new FilesystemWalArchive({ directory: archive }))).complete, true, 'the standby backup keeps its range');
    const two = await cli(['expire', '--store', store.directory, '--wal-archive', archive, '--keep-last', '2']);
    assert.equal(two.code, 0, two.out);
    assert.deepEqual(two.json.removedSummaries, ['b2-standby']);
    assert.ok(two.json.removedWal.length > 0);
    assert.equal((await verifyWal(summaries['b4-timeline2']!, new FilesystemWalArchive({ directory: archive }))).complete, true);

    const copy = await untarDataDirectory(tar('b4-timeline2'), await mkdtemp(join(tmpdir(), 'pgsb-lifecycle-copy-')));
    try {
      const drill = await cli(['drill', '--id', 'b4-timeline2', '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, '--check-sql', 'SELECT count(*) = 1 FROM canary', '--amcheck', '--timeout', '60s']);
      assert.equal(drill.code, 0, drill.out);
      assert.match(drill.json.consistentAt, /^[0-9A-F]+\/[0-9A-F]+$/);
      assert.ok(drill.json.walFilesReplayed >= 1);
      assert.deepEqual(drill.json.checks.map((c: { ok: boolean }) => c.ok), [true, true]);
      assert.equal(drill.json.kept, false);
      const failing = await cli(['drill', '--id', 'b4-timeline2', '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, '--check-sql', 'SELECT count(*) = 2 FROM canary', '--timeout', '60s']);
      assert.equal(failing.code, 7, failing.out);
      assert.equal(failing.json.error.code, 'DRILL_FAILED');
      assert.equal(failing.json.error.details.checks[0].detail, 'returned false');
      assert.deepEqual((await readdir(copy)).includes('backup_label'), false, 'the data copy itself is untouched');
      // A target stops replay there: 'immediate' (consistency) comes before the canary row written after b4.
      const immediate = await cli(['drill', '--id', 'b4-timeline2', '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, '--target', 'immediate', '--check-sql', 'SELECT count(*) = 0 FROM canary', '--timeout', '60s']);
      assert.equal(immediate.code, 0, immediate.out);
      // Your own restore_command instead of --wal-archive: all of the WAL again.
      const own = await cli(['drill', '--id', 'b4-timeline2', '--store', store.directory, '--pgdata', copy, '--restore-command', `cp '${archive}/%f' "%p"`, '--check-sql', 'SELECT count(*) = 1 FROM canary', '--timeout', '60s']);
      assert.equal(own.code, 0, own.out);
      // --keep leaves the scratch copy; on a terminal a progress line is drawn during replay.
      let stdout = '';
      let stderr = '';
      const code = await runCli(['drill', '--id', 'b4-timeline2', '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, '--keep', '--timeout', '60s', '--json'], {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        stderrIsTTY: true,
      });
      assert.equal(code, 0, stdout + stderr);
      assert.match(stderr, /\r\x1b\[Kpg-split-backup: drill b4-timeline2: replaying WAL/);
      const kept = JSON.parse(stdout) as { kept: boolean; pgdata: string };
      assert.equal(kept.kept, true);
      assert.ok((await readdir(kept.pgdata)).includes('PG_VERSION'));
      await rm(join(kept.pgdata, '..'), { recursive: true, force: true });
      // --in-place drills the copy itself and leaves it restored.
      const inPlace = await cli(['drill', '--id', 'b4-timeline2', '--store', store.directory, '--pgdata', copy, '--wal-archive', archive, '--in-place', '--timeout', '60s']);
      assert.equal(inPlace.code, 0, inPlace.out);
      assert.equal(inPlace.json.pgdata, copy);
      assert.ok((await readdir(copy)).includes('backup_label.old'), 'recovery ran in the copy itself');
    } finally {
      await rm(join(copy, '..'), { recursive: true, force: true });
    }
  });

  test('race: a plan made before a new backup, carried out after it was posted, leaves all of the new backup\'s WAL', async () => {
    const [catalogue, listing] = await Promise.all([readCatalogue(store), readArchiveListing(new FilesystemWalArchive({ directory: archive }))]);
    const stale = planExpiry({ backups: catalogue.backups, unreadable: catalogue.unreadable, policy: { keepLast: 1 }, now: new Date(), archive: { files: listing.files, histories: listing.histories } });
    const fresh = await takeSplitBackup(standby, { id: 'b5-during-expire', sinks: [store], tarball: tar('b5'), spoolDirectory: join(work, 'spool') });
    const walArchive = new FilesystemWalArchive({ directory: archive });
    for (const file of stale.wal!.remove) await walArchive.deleteFile(file.name);
    const check = await verifyWal(fresh, walArchive);
    assert.equal(check.complete, true, `missing ${check.missing.join(', ')}`);
    for (const name of neededWalFiles(fresh)) assert.ok(!stale.wal!.remove.some((f) => f.name === name), name);
  });
});
