import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { BackupSession, FilesystemSummaryStore, isBackupError, neededWalFiles, prepareRestore } from '../../src/index.js';
import { TestCluster, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';

describe('self-contained backups (includeWal): restore with no WAL archive at all', () => {
  for (const major of testMajors()) {
    test(`PostgreSQL ${major}: archive_mode=off, pgbench writing, the summary carries the WAL, the restore needs nothing else`, async () => {
      const source = await TestCluster.start({ major, archive: false, name: `inclwal${major}` });
      const work = await mkdtemp(join(tmpdir(), 'pgsb-inclwal-'));
      await chmod(work, 0o755);
      let restored: TestCluster | undefined;
      try {
        const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
        assert.equal((await source.client('pgbench', ['-i', '-q', '-s', '1', 'postgres'])).code, 0);
        const load = source.client('pgbench', ['-n', '-c', '2', '-T', '3', 'postgres']);
        const id = `selfcontained-${major}`;
        const summary = await takeSplitBackup(source, {
          id,
          sinks: [store],
          tarball: join(work, 'data.tar'),
          spoolDirectory: join(work, 'spool'),
          during: () => delay(1000),
          session: { includeWal: true },
        });
        await load;
        const wal = (summary.attachments ?? []).map((a) => a.name);
        assert.deepEqual(wal, neededWalFiles(summary).map((n) => `pg_wal/${n}`));
        assert.equal(wal.length >= 1, true);
        const [slots] = await source.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_replication_slots');
        assert.equal(slots!.n, 0, 'the temporary slot is gone');
        assert.deepEqual(await readdir(source.archiveDir), [], 'nothing was archived');

        const pgdata = await untarDataDirectory(join(work, 'data.tar'), work);
        const report = await prepareRestore({ id, store, pgdata });
        assert.ok(report.written.includes(wal[0]!));
        assert.equal(report.written.some((f) => /recovery\.(signal|conf)/.test(f)), false, 'no archive recovery without an archive');
        restored = await TestCluster.start({ major, existingDataDir: pgdata, archive: false, name: `inclwal-restored${major}` });
        const [state] = await restored.query<{ recovery: boolean; accounts: string; history: string }>(
          'SELECT pg_is_in_recovery() AS recovery, (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history',
        );
        assert.equal(state!.recovery, false);
        assert.equal(state!.accounts, state!.history, 'pgbench invariant');
        await restored.waitForLog(/consistent recovery state reached|database system is ready to accept connections/, 5000);
      } finally {
        await restored?.destroy();
        await source.destroy();
        await rm(work, { recursive: true, force: true });
      }
    });
  }

  test('a role that may not read files or create slots is refused with PRIVILEGE before anything starts', async () => {
    const major = Math.max(...testMajors());
    const cluster = await TestCluster.start({ major, archive: false });
    try {
      await cluster.createRole('plainbackup');
      const fns = major >= 15 ? ['pg_backup_start(text, boolean)', 'pg_backup_stop(boolean)'] : ['pg_start_backup(text, boolean, boolean)', 'pg_stop_backup(boolean, boolean)'];
      for (const fn of fns) await cluster.query(`GRANT EXECUTE ON FUNCTION ${fn} TO plainbackup`);
      const session = new BackupSession({ id: 'no-wal-rights', connection: cluster.connectionStringFor('plainbackup'), sinks: [], includeWal: true });
      await assert.rejects(session.start(), (e) => isBackupError(e, 'PRIVILEGE') && /pg_read_binary_file|superuser/.test(e.message));
      const withoutWal = new BackupSession({ id: 'no-wal-no-archive', connection: cluster.connectionStringFor('plainbackup'), sinks: [] });
      await assert.rejects(withoutWal.start(), (e) => isBackupError(e, 'SERVER_SETTING') && /archive_mode/.test(e.message));
    } finally {
      await cluster.destroy();
    }
  });
});
