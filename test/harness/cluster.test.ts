import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startStandby, TestCluster, testMajors, withCluster } from './index.js';

const WAL_FILE = /^[0-9A-F]{24}$/;

async function waitForArchivedWal(dir: string, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const files = (await readdir(dir)).filter((f) => WAL_FILE.test(f));
    if (files.length > 0 || Date.now() > deadline) return files;
    await delay(100);
  }
}

describe('TestCluster', () => {
  for (const major of testMajors()) {
    test(`PostgreSQL ${major} starts with replica WAL, archives a switched segment, and destroy() removes it`, async () => {
      const cluster = await TestCluster.start({ major });
      try {
        const [version] = await cluster.query<{ server_version_num: string }>('SHOW server_version_num');
        assert.equal(Math.floor(Number(version?.server_version_num) / 10_000), major);
        assert.equal(cluster.major, major);
        const [walLevel] = await cluster.query<{ wal_level: string }>('SHOW wal_level');
        assert.equal(walLevel?.wal_level, 'replica');
        const [archiveMode] = await cluster.query<{ archive_mode: string }>('SHOW archive_mode');
        assert.equal(archiveMode?.archive_mode, 'on');

        // A fresh cluster may have nothing in the current segment: write something first so the switch is real.
        await cluster.query('CREATE TABLE harness_probe AS SELECT 1 AS i');
        await cluster.query('SELECT pg_switch_wal()');
        const archived = await waitForArchivedWal(cluster.archiveDir);
        assert.ok(archived.length > 0, `a WAL segment in ${cluster.archiveDir}; log:\n${await cluster.log()}`);
      } finally {
        await cluster.destroy();
      }
      assert.equal(existsSync(cluster.baseDir), false, 'base dir removed');
      await cluster.destroy(); // idempotent
    });
  }

  const segsizeMajor = testMajors().find((m) => m >= 11);
  test('walSegmentSizeMb: 1 makes 1 MiB WAL segments', { skip: segsizeMajor === undefined && 'no major >= 11 selected' }, async (t) => {
    const cluster = await withCluster(t, { major: segsizeMajor!, walSegmentSizeMb: 1, archive: false, name: 'segsize' });
    const [row] = await cluster.query<{ setting: string; unit: string | null }>(
      "SELECT setting, unit FROM pg_settings WHERE name = 'wal_segment_size'",
    );
    // 11+ reports wal_segment_size in bytes (10 reported 8kB pages).
    assert.equal(row?.unit, 'B');
    assert.equal(Number(row?.setting), 1024 * 1024);
  });

  test('walSegmentSizeMb on PostgreSQL 10 fails with a clear error', { skip: !testMajors().includes(10) && '10 not selected' }, async () => {
    await assert.rejects(TestCluster.start({ major: 10, walSegmentSizeMb: 1 }), /wal-segsize needs PostgreSQL 11/);
  });

  const standbyMajor = testMajors()
    .filter((m) => m >= 12)
    .at(-1);
  test('startStandby() streams from the primary and is in recovery', { skip: standbyMajor === undefined && 'no major >= 12 selected' }, async (t) => {
    const primary = await withCluster(t, { major: standbyMajor!, name: 'primary' });
    const standby = await startStandby(primary);
    t.after(() => standby.destroy());
    assert.notEqual(standby.port, primary.port);
    const [row] = await standby.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    assert.equal(row?.r, true);
    await primary.query('CREATE TABLE replicated AS SELECT 42 AS answer');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = await standby.query("SELECT 1 FROM pg_class WHERE relname = 'replicated'");
      if (found.length > 0) break;
      assert.ok(Date.now() < deadline, 'the table reached the standby');
      await delay(100);
    }
    const [wal] = await primary.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_replication');
    assert.equal(wal?.n, 1);
  });
});
