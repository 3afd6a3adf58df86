// examples/embed-in-backup-tool.ts against a real cluster: the tar leaves out what it must, and the
// tar plus the summary restore (CLI restore) into a server that has the data written before.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { run, runOk, TestCluster, smokeMajor, untarDataDirectory } from '../harness/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Examples are smoke tests: one major (the library and CLI are tested on every major elsewhere).
for (const major of [smokeMajor()]) {
  describe(`examples/embed-in-backup-tool.ts on PostgreSQL ${major}`, () => {
    let cluster: TestCluster;
    let work: string;
    before(async () => {
      cluster = await TestCluster.start({ major, name: `ex-embed${major}` });
      work = await mkdtemp(join(tmpdir(), 'pgsb-ex-embed-'));
      await chmod(work, 0o755);
    });
    after(async () => {
      await cluster?.destroy();
      await rm(work, { recursive: true, force: true });
    });

    test('the tar excludes postmaster.pid and WAL, and tar + summary restore to a server with the data', async () => {
      await cluster.query("CREATE TABLE before_backup AS SELECT 'kept' AS word");
      const tarball = join(work, 'base.tar');
      const summaries = join(work, 'summaries');
      const result = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/embed-in-backup-tool.ts'), cluster.connectionString, cluster.dataDir, tarball, summaries], {
        cwd: ROOT,
        env: { ...process.env, XDG_STATE_HOME: join(work, 'state'), NODE_TEST_CONTEXT: undefined },
      });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const id = /started (\S+) at/.exec(result.stdout)?.[1];
      assert.ok(id, result.stdout);

      const members = (await runOk('tar', ['-tf', tarball])).stdout.split('\n');
      assert.ok(members.includes('./PG_VERSION'), 'the data directory is in the tar');
      assert.ok(members.includes('./global/pg_control'));
      assert.ok(!members.includes('./postmaster.pid'), 'postmaster.pid is left out');
      assert.ok(!members.includes('./backup_label'));
      assert.deepEqual(
        members.filter((m) => /^\.\/pg_wal\/[0-9A-F]{24}$/.test(m)),
        [],
        'no WAL segment is in the tar',
      );

      const pgdata = await untarDataDirectory(tarball, await mkdtemp(join(tmpdir(), 'pgsb-ex-embed-restored-')));
      let restored: TestCluster | undefined;
      try {
        const restore = await run(
          process.execPath,
          ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'restore', '--id', id, '--store', `file://${summaries}`, '--pgdata', pgdata, '--wal-archive', cluster.archiveDir],
          { cwd: ROOT },
        );
        assert.equal(restore.code, 0, restore.stdout + restore.stderr);
        restored = await TestCluster.start({ major, existingDataDir: pgdata, name: `ex-embed-restored${major}` });
        assert.deepEqual(await restored.query('SELECT word FROM before_backup'), [{ word: 'kept' }]);
      } finally {
        await restored?.destroy();
        await rm(join(pgdata, '..'), { recursive: true, force: true });
      }
    });
  });
}
