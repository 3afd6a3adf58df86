// examples/hooks/*.sh run with sh, as cron or a backup program would, against a real cluster.
// restic, borg, Bacula and Veeam are not installed: their copy step is done by tar here, and the
// restic/borg commands the post scripts run for the second backup are small shims on PATH.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FilesystemSummaryStore } from '../../src/index.js';
import { binDirFor, freePort, run, runOk, TestCluster, testMajors, type CommandResult } from '../harness/index.js';
import { CliSandbox, ROOT } from '../cli/cli-helpers.js';

const HOOKS = join(ROOT, 'examples', 'hooks');
const EXPECTED_SCRIPTS = ['cron-tar.sh', 'restore.sh'];
const PGSB_BIN = `${process.execPath} --import tsx ${join(ROOT, 'src', 'cli', 'main.ts')}`;

test('every hook script parses with sh -n', async () => {
  const scripts = (await readdir(HOOKS)).filter((f) => f.endsWith('.sh'));
  for (const expected of EXPECTED_SCRIPTS) assert.ok(scripts.includes(expected), `${expected} is missing`);
  for (const script of scripts) {
    const result = await run('sh', ['-n', join(HOOKS, script)]);
    assert.equal(result.code, 0, `${script}: ${result.stderr}`);
  }
});

for (const major of testMajors()) {
  describe(`hook examples on PostgreSQL ${major}`, () => {
    let cluster: TestCluster;
    let sandbox: CliSandbox;
    before(async () => {
      cluster = await TestCluster.start({ major, name: `ex-hooks${major}` });
      sandbox = await CliSandbox.create();
      // The restore step runs the server as postgres, which must reach its data directory.
      await chmod(sandbox.base, 0o755);
    });
    after(async () => {
      await sandbox?.destroy();
      await cluster?.destroy();
    });

    /** Runs a hook with sh in the sandbox's environment (runtime dir, spool, tag for the holders). */
    const hook = (script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> =>
      run('sh', [join(HOOKS, script), ...args], {
        cwd: ROOT,
        env: sandbox.env({ PGSB_BIN, PG_SPLIT_BACKUP_RUNTIME_DIR: sandbox.runtimeDir, PGDATA: cluster.dataDir, PGSB_DB: cluster.connectionString, ...env }),
      });

    test('cron-tar.sh takes a backup end to end, and restore.sh brings it back with the data', async () => {
      await cluster.query("CREATE TABLE before_cron AS SELECT 'kept' AS word");
      const id = 'cron-tar-1';
      const summaries = join(sandbox.base, 'summaries');
      const dataDest = join(sandbox.base, 'base');
      const summaryCopy = join(sandbox.base, 'offsite');
      const taken = await hook('cron-tar.sh', [], { PGSB_ID: id, PGSB_SUMMARIES: summaries, PGSB_DATA_DEST: dataDest, PGSB_SUMMARY_COPY: summaryCopy });
      assert.equal(taken.code, 0, taken.stdout + taken.stderr);
      await new FilesystemSummaryStore({ directory: summaries }).get(id);
      assert.deepEqual(await readdir(summaryCopy), [`pg-summaries-${id}.tar`], 'the second copy of the summaries');
      const copied = (await runOk('tar', ['-tf', join(summaryCopy, `pg-summaries-${id}.tar`)])).stdout;
      assert.match(copied, new RegExp(`${id}/backup_label`));
      const members = (await runOk('tar', ['-tf', join(dataDest, `${id}.tar`)])).stdout.split('\n');
      assert.ok(members.includes('./PG_VERSION'));
      assert.ok(!members.includes('./postmaster.pid'));

      const pgdata = join(sandbox.base, 'restored', 'data');
      await mkdir(join(sandbox.base, 'restored'), { mode: 0o755 });
      const port = await freePort();
      const restored = await hook('restore.sh', [id], {
        PGDATA: pgdata,
        PGSB_STORE: summaries,
        PGSB_DATA_DEST: dataDest,
        PGSB_WAL_ARCHIVE: cluster.archiveDir,
        PG_CTL: join(binDirFor(major), 'pg_ctl'),
        // Beside the running source: another port, and no archiving into the source's archive.
        PG_SERVER_OPTIONS: `-p ${port} -c archive_mode=off`,
      });
      try {
        assert.equal(restored.code, 0, restored.stdout + restored.stderr);
        const psql = await run(join(binDirFor(15), 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-Atc', 'SELECT word FROM before_cron']);
        assert.equal(psql.code, 0, psql.stderr);
        assert.equal(psql.stdout.trim(), 'kept');
      } finally {
        await run(join(binDirFor(major), 'pg_ctl'), ['-D', pgdata, '-m', 'immediate', '-w', 'stop'], { asServer: true });
      }
    });
  });
}
