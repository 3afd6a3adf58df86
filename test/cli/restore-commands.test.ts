import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { TestCluster, tarDataDirectory, testMajors, untarDataDirectory } from '../harness/index.js';
import { CliSandbox, explain } from './cli-helpers.js';

const major = Math.max(...testMajors());

describe(`restore, verify and excludes through the CLI (PostgreSQL ${major})`, () => {
  let cluster: TestCluster;
  let sandbox: CliSandbox;
  before(async () => {
    cluster = await TestCluster.start({ major, name: 'cli-restore' });
    sandbox = await CliSandbox.create();
    await chmod(sandbox.base, 0o755);
  });
  after(async () => {
    await sandbox?.destroy();
    await cluster?.destroy();
  });

  test('pre --include-wal, tar, post, then restore with nothing but the summary: the copy starts', async () => {
    const sink = `file://${sandbox.sink()}`;
    await cluster.query('CREATE TABLE kept AS SELECT generate_series(1, 1000) AS i');
    const pre = await sandbox.run(['pre', '--id', 'cli-selfcontained', '--sink', sink, '--dbname', cluster.connectionString, '--fast', '--include-wal', '--json']);
    assert.equal(pre.code, 0, explain(pre));
    await tarDataDirectory(cluster, join(sandbox.base, 'data.tar'));
    const post = await sandbox.run(['post', '--id', 'cli-selfcontained', '--json']);
    assert.equal(post.code, 0, explain(post));
    assert.ok(post.stdout.length < 100_000, 'the WAL is not dumped into the JSON');

    const pgdata = await untarDataDirectory(join(sandbox.base, 'data.tar'), sandbox.base);
    const restore = await sandbox.run(['restore', '--id', 'cli-selfcontained', '--store', sink, '--pgdata', pgdata]);
    assert.equal(restore.code, 0, explain(restore));
    assert.match(restore.stdout, /ready to start[\s\S]*pg_wal\/[0-9A-F]{24}[\s\S]*start it with: pg_ctl -D/);
    const again = await sandbox.run(['restore', '--id', 'cli-selfcontained', '--store', sink, '--pgdata', pgdata, '--json']);
    assert.equal(again.code, 0, explain(again));
    const restored = await TestCluster.start({ major, existingDataDir: pgdata, archive: false, name: 'cli-restored' });
    try {
      const [row] = await restored.query<{ n: number }>('SELECT count(*)::int AS n FROM kept');
      assert.equal(row!.n, 1000);
    } finally {
      await restored.destroy();
    }
  });

  test('verify: exit 0 with the archive complete, exit 5 naming a removed segment; restore refusals exit 2', async () => {
    const sink = `file://${sandbox.sink('sink2')}`;
    assert.equal((await sandbox.run(['pre', '--id', 'cli-verify', '--sink', sink, '--dbname', cluster.connectionString, '--fast'])).code, 0);
    await delay(200);
    const post = await sandbox.run(['post', '--id', 'cli-verify', '--json']);
    assert.equal(post.code, 0, explain(post));
    const stopWalFile = post.json!.stopWalFile as string;
    const ok = await sandbox.run(['verify', '--id', 'cli-verify', '--store', sink, '--wal-archive', cluster.archiveDir]);
    assert.equal(ok.code, 0, explain(ok));
    const partial = join(sandbox.base, 'partial');
    await mkdir(partial);
    for (const name of await readdir(cluster.archiveDir)) if (name !== stopWalFile) await copyFile(join(cluster.archiveDir, name), join(partial, name));
    const missing = await sandbox.run(['verify', '--id', 'cli-verify', '--store', sink, '--wal-archive', `file://${partial}`, '--json']);
    assert.equal(missing.code, 5, explain(missing));
    assert.equal(missing.json!.error.code, 'WAL_INCOMPLETE');
    assert.deepEqual(missing.json!.error.details.missing, [stopWalFile]);

    // The live cluster's own data directory: refused, nothing changed.
    const live = await sandbox.run(['restore', '--id', 'cli-verify', '--store', sink, '--pgdata', cluster.dataDir, '--wal-archive', cluster.archiveDir, '--json']);
    assert.equal(live.code, 2, explain(live));
    assert.equal(live.json!.error.code, 'DATA_DIR_IN_USE');
    const twoTargets = await sandbox.run(['restore', '--id', 'cli-verify', '--store', sink, '--pgdata', '/tmp/x', '--target-name', 'a', '--target-lsn', '0/1']);
    assert.equal(twoTargets.code, 2, explain(twoTargets));
    const unknown = await sandbox.run(['restore', '--id', 'no-such-backup', '--store', sink, '--pgdata', '/tmp/x']);
    assert.equal(unknown.code, 3, explain(unknown));
  });

  test('excludes prints each format; restic or bacula without --pgdata is a usage error', async () => {
    const tar = await sandbox.run(['excludes', '--format', 'tar', '--pg-major', '15']);
    assert.equal(tar.code, 0, explain(tar));
    assert.match(tar.stdout, /^\.\/pg_wal\/\[0-9A-F\]\*$/m);
    const file = join(sandbox.base, 'excludes.rsync');
    const rsync = await sandbox.run(['excludes', '--format', 'rsync']);
    await writeFile(file, rsync.stdout);
    assert.match(rsync.stdout, /^- \/postmaster\.pid$/m);
    const restic = await sandbox.run(['excludes', '--format', 'restic']);
    assert.equal(restic.code, 2, explain(restic));
    const bacula = await sandbox.run(['excludes', '--format', 'bacula', '--pg-major', '17', '--pgdata', '/var/lib/postgresql/17/main']);
    assert.equal(bacula.code, 0, explain(bacula));
    assert.match(bacula.stdout, /^  Wild = "\/var\/lib\/postgresql\/17\/main\/pg_wal\/archive_status\/\*"$/m);
    const baculaNoPgdata = await sandbox.run(['excludes', '--format', 'bacula']);
    assert.equal(baculaNoPgdata.code, 2, explain(baculaNoPgdata));
    const help = await sandbox.run(['excludes', '--help']);
    assert.match(help.stdout, /bacula/);
    await rm(file);
  });
});
