import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readlink, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { FilesystemSummaryStore, isBackupError, prepareRestore } from '../../src/index.js';
import { TestCluster, chownToServerUser, runOk, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';

const major = Math.max(...testMajors());

test(`PostgreSQL ${major}: a backup with a tablespace restores to a new location with --tablespace-mapping`, async () => {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-tblspc-'));
  await chmod(work, 0o755);
  const source = await TestCluster.start({ major, name: 'tblspc' });
  let restored: TestCluster | undefined;
  try {
    const oldLocation = join(work, 'ts-old');
    await mkdir(oldLocation, { mode: 0o700 });
    await chownToServerUser(oldLocation);
    await source.query(`CREATE TABLESPACE extra LOCATION '${oldLocation}'`);
    await source.query('CREATE TABLE in_extra TABLESPACE extra AS SELECT generate_series(1, 5000) AS i');
    const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
    const summary = await takeSplitBackup(source, {
      id: 'with-tablespace',
      sinks: [store],
      tarball: join(work, 'data.tar'),
      spoolDirectory: join(work, 'spool'),
      // The backup program copies the tablespace too, as its own file set.
      during: () => runOk('tar', ['-cf', join(work, 'ts.tar'), '-C', oldLocation, '.']).then(() => undefined),
    });
    const [row] = await source.query<{ oid: string }>("SELECT oid::text FROM pg_tablespace WHERE spcname = 'extra'");
    assert.equal(summary.tablespaceMap, `${row!.oid} ${oldLocation}\n`);

    const pgdata = await untarDataDirectory(join(work, 'data.tar'), work);
    const newLocation = join(work, 'ts-new');
    await mkdir(newLocation, { mode: 0o700 });
    await runOk('tar', ['-xf', join(work, 'ts.tar'), '-C', newLocation]);
    await chownToServerUser(newLocation);
    await assert.rejects(
      prepareRestore({ id: 'with-tablespace', store, pgdata, walArchive: source.archiveDir, tablespaceMapping: { '/not/a/tablespace': newLocation } }),
      (e) => isBackupError(e, 'INVALID_OPTION'),
    );
    // The archive outlives the source; the tablespace's old location does not.
    const archive = join(work, 'archive');
    await runOk('cp', ['-a', source.archiveDir, archive]);
    await source.destroy();
    await rm(oldLocation, { recursive: true, force: true });
    await assert.rejects(
      prepareRestore({ id: 'with-tablespace', store, pgdata, walArchive: archive }),
      (e) => isBackupError(e, 'INVALID_OPTION') && /tablespace-mapping/.test(e.message),
      'the old location is gone with the source: the restore says how to map it',
    );
    await prepareRestore({ id: 'with-tablespace', store, pgdata, walArchive: archive, tablespaceMapping: { [oldLocation]: newLocation } });
    assert.equal(await readFile(join(pgdata, 'tablespace_map'), 'utf8'), `${row!.oid} ${newLocation}\n`);
    assert.equal(await readlink(join(pgdata, 'pg_tblspc', row!.oid)), newLocation);
    restored = await TestCluster.start({ major, existingDataDir: pgdata, name: 'tblspc-restored' });
    for (let i = 0; i < 300; i++) {
      const [r] = await restored.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      if (!r!.r) break;
      await delay(100);
    }
    const [count] = await restored.query<{ n: number; location: string }>(
      "SELECT (SELECT count(*)::int FROM in_extra) AS n, pg_tablespace_location(oid) AS location FROM pg_tablespace WHERE spcname = 'extra'",
    );
    assert.deepEqual(count, { n: 5000, location: newLocation });
  } finally {
    await restored?.destroy();
    await source.destroy();
    await rm(work, { recursive: true, force: true });
  }
});
