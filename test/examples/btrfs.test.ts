// examples/hooks/btrfs-snapshot.sh on a real Btrfs: a loop-mounted filesystem holds PGDATA on one
// subvolume and a tablespace on a second; pgbench writes into the tablespace while the script runs
// pre, `btrfs subvolume snapshot -r` of both named by the ID, and post. Writable snapshots of the
// snapshots are then restored with `pg-split-backup restore` and started, and the pgbench invariant
// holds. Needs root (losetup, mount) and btrfs-progs (scripts/test-setup.mjs installs it).
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FilesystemSummaryStore } from '../../src/index.js';
import { chownToServerUser, run, runOk, TestCluster } from '../harness/index.js';
import { CliSandbox, explain, ROOT } from '../cli/cli-helpers.js';

const MAJOR = 15;
const PGSB_BIN = `${process.execPath} --import ${import.meta.resolve('tsx')} ${join(ROOT, 'src', 'cli', 'main.ts')}`;

async function invariant(cluster: TestCluster): Promise<{ accounts: string; history: string; rows: number }> {
  const [row] = await cluster.query<{ accounts: string; history: string; rows: number }>(
    'SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history, (SELECT count(*)::int FROM pgbench_history) AS rows',
  );
  return row!;
}

describe(`Btrfs snapshots on PostgreSQL ${MAJOR}`, () => {
  let sandbox: CliSandbox;
  let mnt: string;
  let loop: string | undefined;
  let mounted = false;
  let cluster: TestCluster | undefined;
  before(async () => {
    sandbox = await CliSandbox.create();
    await chmod(sandbox.base, 0o755);
    const image = join(sandbox.base, 'btrfs.img');
    await runOk('truncate', ['-s', '400M', image]);
    await runOk('mkfs.btrfs', ['-q', image]);
    loop = (await runOk('losetup', ['--find', '--show', image])).stdout.trim();
    mnt = join(sandbox.base, 'mnt');
    await mkdir(mnt);
    await runOk('mount', [loop, mnt]);
    mounted = true;
    await chmod(mnt, 0o755);
    for (const sub of ['data', 'tblspc']) await runOk('btrfs', ['subvolume', 'create', join(mnt, sub)]);
    await mkdir(join(mnt, 'snapshots'));
  });
  after(async () => {
    await cluster?.destroy();
    if (mounted) await run('umount', [mnt]);
    if (loop !== undefined) await run('losetup', ['-d', loop]);
    await sandbox?.destroy();
  });

  test('btrfs-snapshot.sh under pgbench: snapshots of PGDATA and the tablespace inside one backup window restore, start, and sum(abalance) = sum(delta)', async () => {
    const pgdata = join(mnt, 'data');
    const tblspc = join(mnt, 'tblspc');
    await chownToServerUser(pgdata);
    await chownToServerUser(tblspc);
    await chmod(pgdata, 0o700);
    cluster = await TestCluster.start({
      major: MAJOR,
      name: 'ex-btrfs',
      existingDataDir: pgdata,
      prepareDataDir: async (dir, c) => {
        await runOk(join(c.binDir, 'initdb'), ['-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'], { asServer: true });
      },
    });
    const source = cluster;
    await source.query(`CREATE TABLESPACE extra LOCATION '${tblspc}'`);
    const init = await source.client('pgbench', ['-i', '-q', '-s', '1', '--tablespace=extra', '--index-tablespace=extra', 'postgres']);
    assert.equal(init.code, 0, init.stderr);

    const id = 'btrfs-1';
    const summaries = join(sandbox.base, 'summaries');
    const load = source.client('pgbench', ['-n', '-c', '2', '-T', '5', 'postgres']);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // pgbench is writing when the backup starts
    const taken = await run('sh', [join(ROOT, 'examples', 'hooks', 'btrfs-snapshot.sh')], {
      cwd: ROOT,
      env: sandbox.env({
        PGSB_BIN,
        PG_SPLIT_BACKUP_RUNTIME_DIR: sandbox.runtimeDir,
        PGSB_DB: source.connectionString,
        PGSB_ID: id,
        PGSB_SUBVOLUMES: `${pgdata} ${tblspc}`,
        PGSB_SNAPSHOT_DIR: join(mnt, 'snapshots'),
        PGSB_SUMMARIES: summaries,
        PGSB_SUMMARY_COPY: join(sandbox.base, 'offsite'),
      }),
    });
    assert.equal(taken.code, 0, taken.stdout + taken.stderr);
    const loaded = await load;
    assert.equal(loaded.code, 0, loaded.stderr);
    await new FilesystemSummaryStore({ directory: summaries }).get(id);
    assert.deepEqual((await readdir(join(mnt, 'snapshots', id))).sort(), ['data', 'tblspc']);
    const readOnly = await runOk('btrfs', ['property', 'get', '-ts', join(mnt, 'snapshots', id, 'data'), 'ro']);
    assert.match(readOnly.stdout, /ro=true/);
    assert.deepEqual(await readdir(join(sandbox.base, 'offsite')), [`pg-summaries-${id}.tar`]);

    // Restore: writable snapshots of the read-only ones, next to the running source.
    const restoredData = join(mnt, 'restored-data');
    const restoredTblspc = join(mnt, 'restored-tblspc');
    await runOk('btrfs', ['subvolume', 'snapshot', join(mnt, 'snapshots', id, 'data'), restoredData]);
    await runOk('btrfs', ['subvolume', 'snapshot', join(mnt, 'snapshots', id, 'tblspc'), restoredTblspc]);
    const prepared = await sandbox.run([
      'restore',
      '--id',
      id,
      '--store',
      summaries,
      '--pgdata',
      restoredData,
      '--wal-archive',
      source.archiveDir,
      '--tablespace-mapping',
      `${tblspc}=${restoredTblspc}`,
    ]);
    assert.equal(prepared.code, 0, explain(prepared));
    assert.match(prepared.stdout, /postmaster\.pid/, 'the snapshot’s pid file of the live source is removed, and said so');
    const restored = await TestCluster.start({ major: MAJOR, existingDataDir: restoredData, name: 'ex-btrfs-restored', archive: false, settings: { archive_mode: 'off' } });
    try {
      const state = await invariant(restored);
      assert.equal(state.accounts, state.history, 'sum(abalance) = sum(delta)');
      assert.ok(state.rows > 0, 'pgbench wrote before the snapshots');
      const [ts] = await restored.query<{ location: string }>("SELECT pg_tablespace_location(oid) AS location FROM pg_tablespace WHERE spcname = 'extra'");
      assert.equal(ts!.location, restoredTblspc, 'the tablespace is the restored snapshot');
    } finally {
      await restored.destroy();
    }
    assert.ok((await stat(restoredTblspc)).isDirectory());
    await rm(restoredTblspc, { recursive: true, force: true });
  });
});
