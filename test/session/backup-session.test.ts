import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { BackupSession, FilesystemSummaryStore, MemorySummaryStore, isBackupError, parseBackupLabel, compareLsn } from '../../src/index.js';
import type { BackupSessionOptions, SessionState } from '../../src/index.js';
import { TestCluster, testMajors } from '../harness/index.js';

const ABORT_WARNING = /aborting backup due to backend exiting before pg_(backup_stop|stop_backup) was called/;

async function backendGone(cluster: TestCluster, applicationName: string, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await cluster.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    if (rows[0]?.n === 0) return true;
    await delay(100);
  }
  return false;
}

for (const major of testMajors()) {
  describe(`BackupSession on PostgreSQL ${major}`, () => {
    let cluster: TestCluster;
    let work: string;
    let seq = 0;
    const nextId = (what: string): string => `pg${major}-${what}-${++seq}`;
    const options = (id: string, extra: Partial<BackupSessionOptions> = {}): BackupSessionOptions => ({
      id,
      connection: cluster.connectionString,
      sinks: [new FilesystemSummaryStore({ directory: join(work, 'summaries') })],
      spoolDirectory: join(work, 'spool'),
      heartbeatInterval: 300,
      fast: true,
      archiveTimeout: 60_000,
      ...extra,
    });

    before(async () => {
      cluster = await TestCluster.start({ major });
      work = await mkdtemp(join(tmpdir(), 'pgsb-session-'));
    });
    after(async () => {
      await cluster?.destroy();
      if (work) await rm(work, { recursive: true, force: true });
    });

    test('start() then stop() gives a summary whose label names the ID, with ordered LSNs and the right WAL files', async () => {
      const id = nextId('ok');
      const session = new BackupSession(options(id));
      const states: SessionState[] = [];
      session.on('state', ({ to }) => states.push(to));
      const started = await session.start();
      assert.equal(started.id, id);
      assert.equal(started.serverVersion >= major * 10000 && started.serverVersion < (major + 1) * 10000, true);
      assert.equal(started.fromStandby, false);
      const [walAtStart] = await cluster.query<{ name: string }>('SELECT pg_walfile_name($1::pg_lsn) AS name', [started.startLsn]);
      assert.equal(started.startWalFile, walAtStart!.name);
      await cluster.query('CREATE TABLE IF NOT EXISTS t AS SELECT generate_series(1, 1000) AS i');
      const { summary, receipts } = await session.stop();
      assert.deepEqual(states, ['starting', 'running', 'stopping', 'stopped']);
      assert.match(summary.labelFile, new RegExp(`^LABEL: ${id}$`, 'm'));
      const label = parseBackupLabel(summary.labelFile);
      assert.equal(label.startLsn, started.startLsn);
      assert.equal(summary.startWalFile, started.startWalFile);
      assert.equal(compareLsn(summary.stopLsn, summary.startLsn) >= 0, true);
      assert.equal(summary.backupFrom, 'primary');
      assert.equal(summary.tablespaceMap, '');
      const [sys] = await cluster.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()');
      assert.equal(summary.systemIdentifier, sys!.id);
      // Before 17, pg_walfile_name() names the segment holding the byte before the LSN, which is the stop segment.
      if (major < 17) {
        const [walAtStop] = await cluster.query<{ name: string }>('SELECT pg_walfile_name($1::pg_lsn) AS name', [summary.stopLsn]);
        assert.equal(summary.stopWalFile, walAtStop!.name);
      }
      // The default waitForArchive means the stop segment is in the archive when stop() resolves.
      assert.ok((await readdir(cluster.archiveDir)).includes(summary.stopWalFile), `${summary.stopWalFile} archived`);
      assert.equal(receipts.length, 1);
      assert.equal(receipts[0]!.written, true);
      const stored = await new FilesystemSummaryStore({ directory: join(work, 'summaries') }).get(id);
      assert.deepEqual(stored, summary);
      assert.equal(session.spoolPath, undefined, 'a delivered summary leaves the spool');
    });

    test('a summary goes to every sink, and counts as saved only when all of them have it', async () => {
      const id = nextId('fanout');
      const memory = new MemorySummaryStore();
      const session = new BackupSession(options(id, { sinks: [new FilesystemSummaryStore({ directory: join(work, 'fan') }), memory] }));
      await session.start();
      const { receipts } = await session.stop();
      assert.equal(receipts.length, 2);
      assert.equal((await memory.get(id)).id, id);
    });

    test('abort() ends the server-side backup: the backend exits, the server logs the abort, and a new backup with the ID works', async () => {
      const id = nextId('abort');
      const session = new BackupSession(options(id));
      const aborted: string[] = [];
      session.on('aborted', ({ reason }) => aborted.push(reason));
      await session.start();
      await session.abort('test abort');
      await session.abort('twice is fine');
      assert.equal(session.state, 'aborted');
      assert.deepEqual(aborted, ['test abort']);
      assert.equal(await backendGone(cluster, `pg-split-backup ${id}`), true);
      await cluster.waitForLog(ABORT_WARNING, 10_000);
      await assert.rejects(session.stop(), (e) => isBackupError(e, 'BACKUP_ABORTED') && /test abort/.test(e.message));
      const again = new BackupSession(options(id));
      await again.start();
      const { summary } = await again.stop();
      assert.equal(summary.id, id);
    });

    test('pg_terminate_backend on the held session emits lost, and stop() rejects with BACKUP_ABORTED', async () => {
      const id = nextId('terminated');
      const session = new BackupSession(options(id));
      await session.start();
      const lost = new Promise<string>((resolve) => session.once('lost', ({ reason }) => resolve(reason)));
      await cluster.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`pg-split-backup ${id}`]);
      const reason = await lost;
      assert.match(reason, /connection|terminat|heartbeat/i);
      assert.equal(session.state, 'failed');
      await assert.rejects(session.stop(), (e) => isBackupError(e, 'BACKUP_ABORTED'));
      await assert.rejects(readdir(join(work, 'summaries', id)), { code: 'ENOENT' });
    });

    test('a method called in the wrong state throws INVALID_STATE and changes nothing', async () => {
      const session = new BackupSession(options(nextId('state')));
      await assert.rejects(session.stop(), (e) => isBackupError(e, 'INVALID_STATE'));
      assert.equal(session.state, 'idle');
      await session.start();
      await assert.rejects(session.start(), (e) => isBackupError(e, 'INVALID_STATE'));
      assert.equal(session.state, 'running');
      await session.stop();
      await assert.rejects(session.stop(), (e) => isBackupError(e, 'INVALID_STATE'));
      await session.abort();
      assert.equal(session.state, 'stopped');
    });

    test('a role without EXECUTE on the backup functions gets PRIVILEGE before anything starts; with the grant it works', async () => {
      await cluster.createRole('nobackup');
      const id = nextId('noprivs');
      const denied = new BackupSession(options(id, { connection: cluster.connectionStringFor('nobackup') }));
      await assert.rejects(denied.start(), (e) => isBackupError(e, 'PRIVILEGE') && /GRANT EXECUTE/.test(e.message));
      assert.equal(denied.state, 'failed');
      await cluster.createRole('backupop');
      const fns = major >= 15 ? ['pg_backup_start(text, boolean)', 'pg_backup_stop(boolean)'] : ['pg_start_backup(text, boolean, boolean)', 'pg_stop_backup(boolean, boolean)'];
      for (const fn of fns) await cluster.query(`GRANT EXECUTE ON FUNCTION ${fn} TO backupop`);
      const granted = new BackupSession(options(nextId('granted'), { connection: cluster.connectionStringFor('backupop'), waitForArchive: false }));
      await granted.start();
      const { summary } = await granted.stop();
      assert.equal(summary.backupFrom, 'primary');
    });

    if (major >= 14) {
      test('idle_session_timeout=1s on the server does not kill a 5 s hold', async () => {
        await cluster.setSettings({ idle_session_timeout: '1s', statement_timeout: '1s', idle_in_transaction_session_timeout: '1s' });
        try {
          const session = new BackupSession(options(nextId('timeouts'), { heartbeatInterval: 10_000 }));
          const lost: string[] = [];
          session.on('lost', ({ reason }) => lost.push(reason));
          await session.start();
          await delay(5000);
          assert.deepEqual(lost, []);
          const { summary } = await session.stop();
          assert.ok(summary.stopLsn);
        } finally {
          await cluster.setSettings({ idle_session_timeout: '0', statement_timeout: '0', idle_in_transaction_session_timeout: '0' });
        }
      });
    }

    test('archive_mode=off is refused with SERVER_SETTING unless archiving is not required', async () => {
      await cluster.setSettings({ archive_mode: 'off' }, { restart: true });
      try {
        const session = new BackupSession(options(nextId('noarchive')));
        await assert.rejects(session.start(), (e) => isBackupError(e, 'SERVER_SETTING') && /archive_mode/.test(e.message));
        const relaxed = new BackupSession(options(nextId('noarchive-ok'), { requireArchiving: false }));
        await relaxed.start();
        await relaxed.stop();
      } finally {
        await cluster.setSettings({ archive_mode: 'on' }, { restart: true });
      }
    });

    test('wal_level=minimal is refused with SERVER_SETTING before a backup starts', async () => {
      await cluster.setSettings({ wal_level: 'minimal', max_wal_senders: '0', archive_mode: 'off' }, { restart: true });
      try {
        const session = new BackupSession(options(nextId('minimal')));
        await assert.rejects(session.start(), (e) => isBackupError(e, 'SERVER_SETTING') && /wal_level/.test(e.message));
      } finally {
        await cluster.setSettings({ wal_level: 'replica', max_wal_senders: '10', archive_mode: 'on' }, { restart: true });
      }
    });
  });
}

describe('BackupSession without a server', () => {
  test('an invalid ID is refused in the constructor with INVALID_ID, before any connection', () => {
    for (const id of ['', '../x', 'a/b', '-x', '.x', 'a..b', 'x\ny', 'é', 'a'.repeat(201)]) {
      assert.throws(() => new BackupSession({ id, connection: 'postgresql://127.0.0.1:1/x', sinks: [] }), (e) => isBackupError(e, 'INVALID_ID'));
    }
  });

  test('an unreachable server gives CONNECTION_FAILED after bounded retries', async () => {
    const session = new BackupSession({ id: 'unreachable', connection: 'postgresql://postgres@127.0.0.1:1/postgres', sinks: [], connectRetries: 1 });
    await assert.rejects(session.start(), (e) => isBackupError(e, 'CONNECTION_FAILED') && /127\.0\.0\.1/.test(e.message));
    assert.equal(session.state, 'failed');
  });

  test('bad option values are refused with INVALID_OPTION naming the option', () => {
    assert.throws(
      () => new BackupSession({ id: 'x', connection: 'postgresql://x', sinks: [], heartbeatInterval: -1 }),
      (e) => isBackupError(e, 'INVALID_OPTION') && /heartbeatInterval/.test(e.message),
    );
    assert.throws(
      () => new BackupSession({ id: 'x', connection: 'postgresql://x', sinks: [{} as never] }),
      (e) => isBackupError(e, 'INVALID_OPTION') && /sinks/.test(e.message),
    );
  });
});
