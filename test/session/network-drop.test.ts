import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BackupSession, MemorySummaryStore, isBackupError } from '../../src/index.js';
import { BlackholeProxy, TestCluster, testMajors } from '../harness/index.js';

describe('a silently dropped network path', () => {
  const major = Math.max(...testMajors());
  test(`PostgreSQL ${major}: the heartbeat notices within two intervals, lost is emitted, stop() rejects with BACKUP_ABORTED`, async () => {
    const cluster = await TestCluster.start({ major });
    const proxy = await BlackholeProxy.start(cluster.port);
    const spool = await mkdtemp(join(tmpdir(), 'pgsb-spool-'));
    try {
      const sink = new MemorySummaryStore();
      const session = new BackupSession({
        id: 'blackholed',
        connection: `postgresql://postgres@127.0.0.1:${proxy.port}/postgres`,
        sinks: [sink],
        spoolDirectory: spool,
        heartbeatInterval: 500,
        fast: true,
      });
      await session.start();
      const lost = new Promise<{ reason: string; at: number }>((resolve) => session.once('lost', ({ reason }) => resolve({ reason, at: Date.now() })));
      const dropped = Date.now();
      proxy.drop();
      const { reason, at } = await lost;
      assert.match(reason, /heartbeat/);
      assert.ok(at - dropped <= 1600, `noticed after ${at - dropped} ms`);
      await assert.rejects(session.stop(), (e) => isBackupError(e, 'BACKUP_ABORTED'));
      assert.deepEqual(await sink.list(), []);
    } finally {
      await proxy.close();
      await cluster.destroy();
      await rm(spool, { recursive: true, force: true });
    }
  });
});
