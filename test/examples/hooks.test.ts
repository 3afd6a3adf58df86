// examples/hooks/*.sh run with sh, as cron or a backup program would, against a real cluster.
// restic and borg are real (CI installs Debian's restic and borgbackup): they copy the data
// directory with the generated exclude files, the post hooks back the summaries up with them, and
// the copy is restored from their repositories and started. Here Bacula's and Veeam's copy step is
// done by tar; test/examples/bacula.test.ts runs the Bacula pair in real Bacula jobs.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FilesystemSummaryStore } from '../../src/index.js';
import { binDirFor, chownToServerUser, freePort, run, runOk, tarDataDirectory, TestCluster, smokeMajor, type CommandResult } from '../harness/index.js';
import { CliSandbox, ROOT } from '../cli/cli-helpers.js';

const HOOKS = join(ROOT, 'examples', 'hooks');
const EXPECTED_SCRIPTS = [
  'cron-tar.sh',
  'restore.sh',
  'restic-pre.sh',
  'restic-post.sh',
  'borg-pre.sh',
  'borg-post.sh',
  'bacula-before.sh',
  'bacula-after.sh',
  'veeam-pre-freeze.sh',
  'veeam-post-thaw.sh',
  'btrfs-snapshot.sh',
];
const PGSB_BIN = `${process.execPath} --import tsx ${join(ROOT, 'src', 'cli', 'main.ts')}`;

test('every hook script parses with sh -n', async () => {
  const scripts = (await readdir(HOOKS)).filter((f) => f.endsWith('.sh'));
  for (const expected of EXPECTED_SCRIPTS) assert.ok(scripts.includes(expected), `${expected} is missing`);
  for (const script of scripts) {
    const result = await run('sh', ['-n', join(HOOKS, script)]);
    assert.equal(result.code, 0, `${script}: ${result.stderr}`);
  }
});

// Examples are smoke tests: one major (the library and CLI are tested on every major elsewhere).
for (const major of [smokeMajor()]) {
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

    /** Runs `pg-split-backup restore` on a restored copy, starts it, and reads the row `tool` inserted before the backup. */
    async function restoreAndCheck(restoredBase: string, pgdata: string, id: string, summaries: string, tool: string): Promise<void> {
      const restore = await sandbox.run(['restore', '--id', id, '--store', summaries, '--pgdata', pgdata, '--wal-archive', cluster.archiveDir]);
      assert.equal(restore.code, 0, restore.stdout + restore.stderr);
      // The tools recreate the source's parent directories too, some 0700: all of it goes to the server user.
      await chownToServerUser(restoredBase);
      // archive_mode=off: a promoted copy must not archive its new timeline into the source's archive.
      const restored = await TestCluster.start({ major, existingDataDir: pgdata, name: `ex-${tool}-restored`, archive: false, settings: { archive_mode: 'off' } });
      try {
        const rows = await restored.query<{ tool: string }>('SELECT tool FROM before_pairs WHERE tool = $1', [tool]);
        assert.deepEqual(rows, [{ tool }]);
      } finally {
        await restored.destroy();
      }
    }

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

    /** How each backup program calls its pair: the hook names, and the arguments it passes. */
    const pairs = [
      { tool: 'restic', pre: 'restic-pre.sh', post: 'restic-post.sh', args: (_id: string): string[] => [] },
      { tool: 'borg', pre: 'borg-pre.sh', post: 'borg-post.sh', args: (_id: string): string[] => [] },
      // ClientRunBeforeJob / ClientRunAfterJob = "... %n-%i"
      { tool: 'bacula', pre: 'bacula-before.sh', post: 'bacula-after.sh', args: (id: string): string[] => [id] },
      // Veeam passes no arguments.
      { tool: 'veeam', pre: 'veeam-pre-freeze.sh', post: 'veeam-post-thaw.sh', args: (_id: string): string[] => [] },
    ];

    for (const pair of pairs) {
      test(`${pair.pre} then ${pair.post}: exit 0, the summary in the sink and in the second place; a post for an unknown ID fails`, async () => {
        const dir = join(sandbox.base, pair.tool);
        await mkdir(dir, { recursive: true });
        const id = `${pair.tool}-pg-base-42`; // bacula: %n-%i
        const summaries = join(dir, 'summaries');
        const summaryCopy = join(dir, 'offsite');
        const state = join(dir, 'state');
        const env = {
          PGSB_ID: id,
          PGSB_SUMMARIES: summaries,
          PGSB_SUMMARY_COPY: summaryCopy,
          PGSB_STATE: state,
          RESTIC_SUMMARY_REPOSITORY: join(dir, 'restic-summaries'),
          BORG_SUMMARY_REPO: join(dir, 'borg-summaries'),
          RESTIC_PASSWORD: 'example-only',
          BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
          BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
        };
        const tool = (args: readonly string[], cwd = dir): Promise<CommandResult> => runOk(pair.tool, args, { cwd, env: { ...process.env, ...env } });
        const dataRepo = join(dir, `${pair.tool}-data`);
        if (pair.tool === 'restic') for (const repo of [dataRepo, env.RESTIC_SUMMARY_REPOSITORY]) await tool(['init', '-r', repo]);
        if (pair.tool === 'borg') for (const repo of [dataRepo, env.BORG_SUMMARY_REPO]) await tool(['init', '--encryption=none', repo]);
        await cluster.query(`CREATE TABLE IF NOT EXISTS before_pairs (tool text)`);
        await cluster.query('INSERT INTO before_pairs VALUES ($1)', [pair.tool]);

        const pre = await hook(pair.pre, pair.args(id), env);
        assert.equal(pre.code, 0, pre.stdout + pre.stderr);
        // The backup program's copy, as the comment at the top of each pre script shows it.
        if (pair.tool === 'restic') await tool(['-r', dataRepo, 'backup', cluster.dataDir, '--exclude-file', join(state, 'excludes.restic'), '--tag', id]);
        else if (pair.tool === 'borg') await tool(['create', '--patterns-from', join(state, 'excludes.borg'), `${dataRepo}::${id}`, cluster.dataDir]);
        else await tarDataDirectory(cluster, join(dir, 'data.tar')); // Bacula's file daemon, Veeam's snapshot
        const post = await hook(pair.post, pair.args(id), env);
        assert.equal(post.code, 0, post.stdout + post.stderr);

        const summary = await new FilesystemSummaryStore({ directory: summaries }).get(id);
        assert.match(summary.labelFile, new RegExp(`LABEL: ${id}`));
        if (pair.tool === 'restic' || pair.tool === 'borg') {
          // The second backup: the summary directory, in a repository of its own.
          const second =
            pair.tool === 'restic'
              ? (await tool(['-r', env.RESTIC_SUMMARY_REPOSITORY, 'ls', 'latest'])).stdout
              : (await tool(['list', `${env.BORG_SUMMARY_REPO}::${id}-summaries`, '--format', '/{path}{NL}'])).stdout;
          assert.ok(second.includes(`${summaries}/${id}/backup_label`), second);
          // The copy left out what it must, and restores into a server that has the data.
          const restoredBase = join(dir, 'restored');
          await mkdir(restoredBase, { mode: 0o755 });
          if (pair.tool === 'restic') await tool(['-r', dataRepo, 'restore', 'latest', '--target', restoredBase]);
          else await tool(['extract', `${dataRepo}::${id}`], restoredBase);
          const pgdata = join(restoredBase, cluster.dataDir);
          for (const excluded of ['postmaster.pid', 'backup_label']) assert.equal(existsSync(join(pgdata, excluded)), false, `${excluded} was copied`);
          assert.deepEqual((await readdir(join(pgdata, 'pg_wal'))).filter((f) => /^[0-9A-F]{24}$/.test(f)), [], 'no WAL segment was copied');
          await restoreAndCheck(restoredBase, pgdata, id, summaries, pair.tool);
        } else {
          const copied = (await runOk('tar', ['-tf', join(summaryCopy, `pg-summaries-${id}.tar`)])).stdout;
          assert.match(copied, new RegExp(`${id}/backup_label`));
        }

        // A post for a backup that was never started must fail the job, not pass quietly.
        if (pair.tool === 'bacula') {
          const failed = await hook(pair.post, ['no-such-job-1'], env);
          assert.notEqual(failed.code, 0, failed.stdout + failed.stderr);
          assert.match(failed.stderr, /NOT usable/);
        } else {
          const failed = await hook(pair.post, [], env);
          assert.notEqual(failed.code, 0, 'no ID file after a completed post: post must not succeed');
          await writeFile(join(state, `${pair.tool}.id`), 'never-started-1\n');
          const unknown = await hook(pair.post, [], env);
          assert.notEqual(unknown.code, 0, unknown.stdout + unknown.stderr);
          assert.match(unknown.stderr, /NOT usable/);
        }
      });
    }

    test('bacula-after.sh when the sink fails: post exits 4 (summary only in the spool), the script exits 4 loudly and skips the second copy', async () => {
      const dir = join(sandbox.base, 'bacula-sink-fails');
      await mkdir(dir);
      const id = 'pg-base-43';
      const summaries = join(dir, 'summaries');
      const summaryCopy = join(dir, 'offsite');
      const env = { PGSB_SUMMARIES: summaries, PGSB_SUMMARY_COPY: summaryCopy };
      const pre = await hook('bacula-before.sh', [id], env);
      assert.equal(pre.code, 0, pre.stdout + pre.stderr);
      await writeFile(summaries, 'not a directory'); // the sink directory cannot be created any more
      const post = await hook('bacula-after.sh', [id], env);
      assert.equal(post.code, 4, post.stdout + post.stderr);
      assert.match(post.stderr, /post failed \(exit 4\): backup pg-base-43 is NOT usable/);
      assert.ok(post.stderr.includes(join(sandbox.spoolDir, id)), `the spool path is printed:\n${post.stderr}`);
      assert.deepEqual(await readdir(dir), ['summaries'], 'no second copy of a summary that was not saved');
    });
  });
}
