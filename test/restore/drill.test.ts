import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FilesystemSummaryStore, drill, isBackupError } from '../../src/index.js';
import { TestCluster, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';

/** Whether a process runs (a zombie waiting for a reaper that never comes, as in some containers, has exited). */
async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && !/^\d+ \(.*\) [ZX] /.test(stat);
}

for (const major of [...new Set([Math.min(...testMajors()), Math.max(...testMajors())])]) {
  test(`PostgreSQL ${major}: drill() restores a copy privately, runs the checks, and leaves the data copy untouched`, async () => {
    const work = await mkdtemp(join(tmpdir(), 'pgsb-drill-test-'));
    await chmod(work, 0o755);
    const source = await TestCluster.start({ major, name: `drill${major}` });
    try {
      await source.query('CREATE TABLE canary AS SELECT 42 AS answer');
      const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
      await takeSplitBackup(source, { id: 'drilled', sinks: [store], tarball: join(work, 'data.tar'), spoolDirectory: join(work, 'spool') });
      const copy = await untarDataDirectory(join(work, 'data.tar'), work);
      const seen: number[] = [];
      // A parent of its own: drills of test files running beside this one leave theirs in tmpdir.
      const scratchDirectory = join(work, 'scratch');
      await mkdir(scratchDirectory, { mode: 0o755 });
      await chmod(scratchDirectory, 0o755);
      const report = await drill({
        id: 'drilled',
        store,
        dataCopy: copy,
        scratchDirectory,
        walArchive: source.archiveDir,
        binDir: source.binDir,
        check: async (client) => {
          const { rows } = await client.query<{ answer: number }>('SELECT answer FROM canary');
          seen.push(rows[0]!.answer);
        },
      });
      assert.equal(report.ok, true, report.log);
      assert.match(report.consistentAt ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
      assert.deepEqual(seen, [42]);
      await assert.rejects(
        drill({ id: 'drilled', store, dataCopy: copy, scratchDirectory, walArchive: source.archiveDir, binDir: source.binDir, check: async () => Promise.reject(new Error('check failed')) }),
        /check failed/,
      );
      // The data copy itself was never touched, and the scratch copies are gone.
      await assert.rejects(stat(join(copy, 'backup_label')), { code: 'ENOENT' });
      await assert.rejects(stat(join(copy, 'recovery.signal')), { code: 'ENOENT' });
      assert.deepEqual(await readdir(scratchDirectory), []);
      await assert.rejects(drill({ id: 'drilled', store, dataCopy: copy, binDir: source.binDir }), (e) => isBackupError(e, 'INVALID_OPTION'));
    } finally {
      await source.destroy();
      await rm(work, { recursive: true, force: true });
    }
  });
}

test(`PostgreSQL ${Math.max(...testMajors())}: drill() aborted during recovery rejects with the signal's reason, with its server stopped and its scratch copy removed`, async () => {
  const major = Math.max(...testMajors());
  const work = await mkdtemp(join(tmpdir(), 'pgsb-drill-test-'));
  await chmod(work, 0o755);
  const source = await TestCluster.start({ major, name: `drillabort${major}` });
  try {
    const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
    await takeSplitBackup(source, { id: 'to-cancel', sinks: [store], tarball: join(work, 'data.tar'), spoolDirectory: join(work, 'spool') });
    const copy = await untarDataDirectory(join(work, 'data.tar'), work);
    const scratchDirectory = join(work, 'scratch');
    await mkdir(scratchDirectory, { mode: 0o755 });
    const controller = new AbortController();
    const reason = new Error('the operator cancelled the drill');
    let postmasterPid: number | undefined;
    const began = Date.now();
    await assert.rejects(
      drill({
        id: 'to-cancel',
        store,
        dataCopy: copy,
        // A slow archive keeps the server in recovery while the drill is cancelled.
        restoreCommand: `sleep 2 && cp ${source.archiveDir}/%f %p`,
        binDir: source.binDir,
        scratchDirectory,
        signal: controller.signal,
        onProgress: () => {
          void (async () => {
            const [dir] = await readdir(scratchDirectory);
            const pid = await readFile(join(scratchDirectory, dir!, 'data', 'postmaster.pid'), 'utf8').catch(() => undefined);
            if (pid === undefined || postmasterPid !== undefined) return;
            postmasterPid = Number(pid.split('\n')[0]);
            controller.abort(reason);
          })();
        },
      }),
      (e) => e === reason,
    );
    assert.ok(postmasterPid !== undefined && postmasterPid > 0, 'the server was running when the drill was cancelled');
    assert.ok(Date.now() - began < 60_000);
    assert.equal(await isRunning(postmasterPid!), false, 'the private server is stopped');
    assert.deepEqual(await readdir(scratchDirectory), [], 'the scratch copy is removed');
    await assert.rejects(stat(join(copy, 'backup_label')), { code: 'ENOENT' });
    // Already aborted: nothing is copied or started.
    await assert.rejects(drill({ id: 'to-cancel', store, dataCopy: copy, walArchive: source.archiveDir, binDir: source.binDir, scratchDirectory, signal: AbortSignal.abort(reason) }), (e) => e === reason);
    assert.deepEqual(await readdir(scratchDirectory), []);
  } finally {
    await source.destroy();
    await rm(work, { recursive: true, force: true });
  }
});
