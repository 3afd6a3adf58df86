import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BackupSession, MemorySummaryStore, parseBackupLabel } from '../../src/index.js';
import { TestCluster, startStandby, testMajors } from '../harness/index.js';

// One pre-15 and one 15+ major from the selection: both API generations on a standby.
const majors = [...new Set([testMajors().filter((m) => m < 15).at(-1), testMajors().filter((m) => m >= 15).at(-1)])].filter(
  (m): m is number => m !== undefined,
);

describe('BackupSession on a streaming standby', () => {
  for (const major of majors) {
    test(`PostgreSQL ${major}: a backup taken from a standby says so, and skips the archive wait with a warning`, async () => {
      const primary = await TestCluster.start({ major, name: `primary${major}` });
      const spool = await mkdtemp(join(tmpdir(), 'pgsb-spool-'));
      let standby: TestCluster | undefined;
      try {
        standby = await startStandby(primary);
        const warnings: string[] = [];
        const sink = new MemorySummaryStore();
        const session = new BackupSession({ id: `standby-${major}`, connection: standby.connectionString, sinks: [sink], spoolDirectory: spool, fast: true });
        session.on('warning', ({ message }) => warnings.push(message));
        const started = await session.start();
        assert.equal(started.fromStandby, true);
        await primary.query('CREATE TABLE during_backup AS SELECT generate_series(1, 100) AS i');
        // A standby's backup ends at its replay position: make sure the primary's change reached it.
        await primary.query('SELECT pg_switch_wal()');
        const { summary } = await session.stop();
        assert.equal(summary.backupFrom, 'standby');
        assert.equal(parseBackupLabel(summary.labelFile).backupFrom, 'standby');
        assert.equal(summary.startWalFile, started.startWalFile);
        assert.ok(summary.stopWalFile >= summary.startWalFile);
        assert.match(warnings.join('\n'), /standby.*archive_mode=always/);
        assert.deepEqual(await sink.get(`standby-${major}`), summary);
      } finally {
        await standby?.destroy();
        await primary.destroy();
        await rm(spool, { recursive: true, force: true });
      }
    });
  }
});
