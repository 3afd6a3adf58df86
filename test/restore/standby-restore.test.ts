import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { FilesystemSummaryStore, prepareRestore } from '../../src/index.js';
import { TestCluster, startStandby, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';

describe('a backup taken from a streaming standby restores', () => {
  for (const major of testMajors().filter((m) => m >= 15)) {
    test(`PostgreSQL ${major}: summary ships pg_control; after the primary switches WAL, the copy restores consistent`, async () => {
      const primary = await TestCluster.start({ major, name: `sb-primary${major}` });
      const work = await mkdtemp(join(tmpdir(), 'pgsb-sbrestore-'));
      await chmod(work, 0o755);
      let standby: TestCluster | undefined;
      let restored: TestCluster | undefined;
      try {
        assert.equal((await primary.client('pgbench', ['-i', '-q', '-s', '1', 'postgres'])).code, 0);
        standby = await startStandby(primary);
        const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
        const load = primary.client('pgbench', ['-n', '-c', '2', '-T', '3', 'postgres']);
        const id = `from-standby-${major}`;
        const summary = await takeSplitBackup(standby, { id, sinks: [store], tarball: join(work, 'data.tar'), spoolDirectory: join(work, 'spool'), during: () => delay(1000) });
        await load;
        assert.equal(summary.backupFrom, 'standby');
        assert.deepEqual(summary.attachments?.map((a) => a.name), ['global/pg_control']);
        // A standby's stop switches no WAL: the primary must, so the last segment gets archived.
        await primary.query('SELECT pg_switch_wal()');
        for (let i = 0; i < 200 && !(await readdir(primary.archiveDir)).includes(summary.stopWalFile); i++) await delay(100);
        assert.ok((await readdir(primary.archiveDir)).includes(summary.stopWalFile), `${summary.stopWalFile} archived by the primary`);

        const pgdata = await untarDataDirectory(join(work, 'data.tar'), work);
        const report = await prepareRestore({ id, store, pgdata, walArchive: primary.archiveDir });
        assert.ok(report.written.includes('global/pg_control'));
        assert.ok(report.removed.includes('standby.signal'), 'the copied standby.signal is removed');
        await standby.destroy();
        standby = undefined;
        restored = await TestCluster.start({ major, existingDataDir: pgdata, name: `sb-restored${major}` });
        for (let i = 0; i < 300; i++) {
          const [row] = await restored.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
          if (!row!.r) break;
          await delay(100);
        }
        await restored.waitForLog(/consistent recovery state reached/, 5000);
        const [state] = await restored.query<{ recovery: boolean; accounts: string; history: string }>(
          'SELECT pg_is_in_recovery() AS recovery, (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history',
        );
        assert.equal(state!.recovery, false);
        assert.equal(state!.accounts, state!.history);
      } finally {
        await restored?.destroy();
        await standby?.destroy();
        await primary.destroy();
        await rm(work, { recursive: true, force: true });
      }
    });
  }
});
