import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { FilesystemSummaryStore, FilesystemWalArchive, MemorySummaryStore, isBackupError, prepareRestore, stopWalFileName, verifyWal } from '../../src/index.js';
import type { BackupSummary, ErrorCode } from '../../src/index.js';
import { TestCluster, takeSplitBackup, testMajors, untarDataDirectory, chownToServerUser, run } from '../harness/index.js';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every path with its size and content hash stand-in (mtime), to prove a refusal changed nothing. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string): Promise<void> => {
    for (const entry of await readdir(p, { withFileTypes: true })) {
      const full = join(p, entry.name);
      const st = await stat(full).catch(() => undefined);
      out.push(`${relative(dir, full)} ${st?.size ?? '-'} ${st?.mtimeMs ?? '-'}`);
      if (entry.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return out.sort();
}

async function waitForArchived(cluster: TestCluster, walFile: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await readdir(cluster.archiveDir)).includes(walFile)) return;
    await delay(100);
  }
  throw new Error(`${walFile} never reached the archive`);
}

async function invariant(cluster: TestCluster): Promise<{ accounts: string; history: string; rows: number }> {
  const [row] = await cluster.query<{ accounts: string; history: string; rows: number }>(
    'SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history, (SELECT count(*)::int FROM pgbench_history) AS rows',
  );
  return row!;
}

for (const major of testMajors()) {
  describe(`restore on PostgreSQL ${major}`, () => {
    let source: TestCluster;
    let work: string;
    let store: FilesystemSummaryStore;
    let summary: BackupSummary;
    let tarball: string;
    const id = `restore-${major}`;

    before(async () => {
      source = await TestCluster.start({ major, name: `restore-src${major}` });
      work = await mkdtemp(join(tmpdir(), 'pgsb-restore-test-'));
      await chmod(work, 0o755);
      store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
      tarball = join(work, 'data.tar');
      const init = await source.client('pgbench', ['-i', '-q', '-s', '1', 'postgres']);
      assert.equal(init.code, 0, init.stderr);
      const load = source.client('pgbench', ['-n', '-c', '2', '-T', '4', 'postgres']);
      summary = await takeSplitBackup(source, { id, sinks: [store], tarball, spoolDirectory: join(work, 'spool'), during: () => delay(1000) });
      const loaded = await load;
      assert.equal(loaded.code, 0, loaded.stderr);
      // Writes after the backup: a named restore point, then a table recovery must not reach.
      await source.query("SELECT pg_create_restore_point('after-load')");
      await source.query('CREATE TABLE too_late AS SELECT 1 AS x');
      const [sw] = await source.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
      await waitForArchived(source, stopWalFileName(1, sw!.lsn, summary.walSegmentSize));
    });
    after(async () => {
      await source?.destroy();
      await rm(work, { recursive: true, force: true });
    });

    test('split backup under pgbench load → prepareRestore → start: consistent, PITR to the restore point, invariant holds', async () => {
      const pgdata = await untarDataDirectory(tarball, await mkdtemp(join(tmpdir(), 'pgsb-restored-')));
      let restored: TestCluster | undefined;
      try {
        // Through the CLI, as an operator would; twice, since a second run must give the same directory.
        const args = ['restore', '--id', id, '--store', `file://${join(work, 'summaries')}`, '--pgdata', pgdata, '--wal-archive', source.archiveDir, '--target-name', 'after-load', '--target-action', 'promote', '--json'];
        const first = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT });
        assert.equal(first.code, 0, first.stdout + first.stderr);
        const report = JSON.parse(first.stdout) as { written: string[] };
        assert.ok(report.written.includes('backup_label'));
        assert.equal(await readFile(join(pgdata, 'backup_label'), 'utf8'), summary.labelFile);
        const before = await snapshot(pgdata);
        const contents = await Promise.all(report.written.map((f) => readFile(join(pgdata, f), 'utf8')));
        const again = await prepareRestore({ id, store, pgdata, walArchive: source.archiveDir, target: { name: 'after-load' }, targetAction: 'promote' });
        assert.deepEqual(await Promise.all(again.written.map((f) => readFile(join(pgdata, f), 'utf8'))), contents, 'a second run writes the same');
        assert.deepEqual((await snapshot(pgdata)).map((l) => l.replace(/ [\d.]+$/, '')), before.map((l) => l.replace(/ [\d.]+$/, '')), 'same files');
        restored = await TestCluster.start({ major, existingDataDir: pgdata, name: `restored${major}` });
        for (let i = 0; i < 300; i++) {
          const [row] = await restored.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
          if (!row!.r) break;
          await delay(100);
        }
        await restored.waitForLog(/consistent recovery state reached/, 5000);
        await restored.waitForLog(/recovery stopping at restore point "after-load"/, 5000);
        const state = await invariant(restored);
        assert.equal(state.accounts, state.history, 'sum(abalance) = sum(delta)');
        assert.ok(state.rows > 0, 'pgbench wrote during the backup');
        const [late] = await restored.query<{ t: string | null }>("SELECT to_regclass('too_late')::text AS t");
        assert.equal(late!.t, null, 'recovery stopped at the restore point, before too_late');
      } finally {
        await restored?.destroy();
        await rm(join(pgdata, '..'), { recursive: true, force: true });
      }
    });

    test('verifyWal finds the real archive complete, and names a deliberately removed segment', async () => {
      assert.equal((await verifyWal(summary, new FilesystemWalArchive({ directory: source.archiveDir }))).complete, true);
      const partial = join(work, 'partial-archive');
      await mkdir(partial);
      for (const name of await readdir(source.archiveDir)) if (name !== summary.stopWalFile) await copyFile(join(source.archiveDir, name), join(partial, name));
      const result = await verifyWal(summary, new FilesystemWalArchive({ directory: partial }));
      assert.deepEqual(result.missing, [summary.stopWalFile]);
    });

    test('each refusal has its code and changes nothing', async () => {
      const pgdata = await untarDataDirectory(tarball, await mkdtemp(join(tmpdir(), 'pgsb-refused-')));
      try {
        const expectRefusal = async (code: ErrorCode, storeFor: MemorySummaryStore | FilesystemSummaryStore, what: string, refusedId = id): Promise<void> => {
          const before = await snapshot(pgdata);
          await assert.rejects(prepareRestore({ id: refusedId, store: storeFor, pgdata, walArchive: source.archiveDir }), (e) => isBackupError(e, code), what);
          assert.deepEqual(await snapshot(pgdata), before, `${what}: nothing changed`);
        };
        const tampered = (changes: Partial<BackupSummary>): MemorySummaryStore => {
          const memory = new MemorySummaryStore();
          void memory.write({ ...summary, ...changes });
          return memory;
        };
        await expectRefusal('LABEL_MISMATCH', tampered({ systemIdentifier: '1234567890123456789' }), 'another cluster');
        await expectRefusal('LABEL_MISMATCH', tampered({ serverVersion: (major === 18 ? 17 : major + 1) * 10000 + 1 }), 'another major');
        await expectRefusal('NOT_FOUND', store, 'unknown ID', 'no-such-backup');
        const corrupt = new MemorySummaryStore();
        await corrupt.write(summary);
        corrupt.files.get(id)!.set('backup_label', Buffer.from(summary.labelFile.replace('CHECKPOINT', 'CHECKPOlNT')));
        await expectRefusal('CORRUPT_SUMMARY', corrupt, 'tampered backup_label');

        // A live server on the directory (DATA_DIR_IN_USE) and stale pid files: restore-safety.test.ts.
        await writeFile(join(pgdata, 'backup_label'), summary.labelFile.replace(`LABEL: ${id}`, 'LABEL: some-other-backup'));
        await expectRefusal('RESTORE_CONFLICT', store, 'stray backup_label of another backup');
        await rm(join(pgdata, 'backup_label'));

        await writeFile(join(pgdata, 'pg_wal', 'notes.txt'), 'not WAL');
        await expectRefusal('RESTORE_CONFLICT', store, 'foreign file in pg_wal');
        await rm(join(pgdata, 'pg_wal', 'notes.txt'));

        if (major >= 12) {
          await writeFile(join(pgdata, 'recovery.conf'), "restore_command = 'false'\n");
          await expectRefusal('RESTORE_CONFLICT', store, 'recovery.conf on 12+');
          await rm(join(pgdata, 'recovery.conf'));
        }
        await chownToServerUser(pgdata);
        // With the obstacles gone, the same directory restores.
        await prepareRestore({ id, store, pgdata, walArchive: source.archiveDir });
      } finally {
        await rm(join(pgdata, '..'), { recursive: true, force: true });
      }
    });
  });
}
