import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FilesystemSummaryStore, drill, isBackupError } from '../../src/index.js';
import { TestCluster, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';

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
      const report = await drill({
        id: 'drilled',
        store,
        dataCopy: copy,
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
        drill({ id: 'drilled', store, dataCopy: copy, walArchive: source.archiveDir, binDir: source.binDir, check: async () => Promise.reject(new Error('check failed')) }),
        /check failed/,
      );
      // The data copy itself was never touched, and the scratch copies are gone.
      await assert.rejects(stat(join(copy, 'backup_label')), { code: 'ENOENT' });
      await assert.rejects(stat(join(copy, 'recovery.signal')), { code: 'ENOENT' });
      assert.deepEqual((await readdir(tmpdir())).filter((n) => n.startsWith('pgsb-drill-') && !n.startsWith('pgsb-drill-test-')), []);
      await assert.rejects(drill({ id: 'drilled', store, dataCopy: copy, binDir: source.binDir }), (e) => isBackupError(e, 'INVALID_OPTION'));
    } finally {
      await source.destroy();
      await rm(work, { recursive: true, force: true });
    }
  });
}
