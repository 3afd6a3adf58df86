import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BackupSession, MemorySummaryStore, type ConnectionConfig } from '../../src/index.js';
import { TestCluster, testMajors } from '../harness/index.js';

const major = Math.max(...testMajors());

test(`PostgreSQL ${major}: a ConnectionConfig object (not a URI) connects, and the session names itself whatever application_name says`, async () => {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-conncfg-'));
  const cluster = await TestCluster.start({ major, name: `conncfg${major}` });
  try {
    const { host, port, user, database } = cluster.connectionConfig;
    const connection: ConnectionConfig = {
      host,
      port,
      user,
      database,
      application_name: 'ignored',
      connectionTimeoutMillis: 10_000,
    };
    const session = new BackupSession({ id: 'conncfg', connection, sinks: [new MemorySummaryStore()], spoolDirectory: join(work, 'spool'), fast: true });
    await session.start();
    try {
      const rows = await cluster.query<{ application_name: string }>("SELECT application_name FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name LIKE 'pg-split-backup%'");
      assert.deepEqual(rows.map((r) => r.application_name), ['pg-split-backup conncfg']);
    } finally {
      await session.abort();
    }
  } finally {
    await cluster.destroy();
    await rm(work, { recursive: true, force: true });
  }
});
