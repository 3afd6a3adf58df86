// A data directory planted with everything a copy must leave out and the neighbours it must keep,
// and the check that a copy of it (by tar, rsync, Bacula...) holds exactly the kept ones.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

// Planted like PostgreSQL's 010_pg_basebackup.pl: every kind a copy must leave out, and neighbours it must keep.
const EXCLUDED = [
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'tablespace_map',
  'postgresql.auto.conf.tmp',
  'current_logfiles.tmp',
  'backup_manifest',
  'pg_wal/000000010000000000000001',
  'pg_wal/000000010000000000000002.partial',
  'pg_wal/00000002.history',
  'pg_wal/000000010000000000000001.00000028.backup',
  'pg_wal/xlogtemp.1234',
  'pg_wal/archive_status/000000010000000000000001.ready',
  'pg_wal/summaries/0000000100000000010000000001000000.summary',
  'pg_stat_tmp/global.stat',
  'pg_replslot/slot1/state',
  'pg_dynshmem/mmap.1',
  'pg_notify/0000',
  'pg_serial/0000',
  'pg_snapshots/00000003-0000001A-1',
  'pg_subtrans/0000',
  'base/5/pgsql_tmp/pgsql_tmp123.0',
  'base/pgsql_tmp/pgsql_tmp55.1',
  'global/pg_internal.init',
  'base/5/pg_internal.init.123',
  'base/5/t2_16384',
  'base/5/t2_16384_fsm',
  'base/5/t2_16384.1',
  'base/5/t999_2',
  '.DS_Store',
  'base/5/.DS_Store',
];
const KEPT = [
  'PG_VERSION',
  'postgresql.conf',
  'postgresql.auto.conf',
  'pg_hba.conf',
  'global/pg_control',
  'global/1262',
  'base/5/16384',
  'base/5/16384_fsm',
  'base/5/16384.1',
  'base/5/16385_init',
  'base/5/PG_VERSION',
  'pg_xact/0000',
  'pg_multixact/offsets/0000',
  'pg_logical/replorigin_checkpoint',
  'pg_tblspc/.keep',
  'pg_stat/pgstat.stat',
];
// Directories a copy keeps, empty.
const KEPT_DIRS = ['pg_wal', 'pg_wal/archive_status', 'pg_wal/summaries', 'pg_stat_tmp', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans'];

/** Plants every excluded and every kept file under `root` (17's layout). */
export async function plant(root: string): Promise<void> {
  for (const file of [...EXCLUDED, ...KEPT]) {
    await mkdir(join(root, dirname(file)), { recursive: true });
    await writeFile(join(root, file), 'x');
  }
}

/** The files and directories under `root`, relative, sorted. */
export async function tree(root: string): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = async (p: string): Promise<void> => {
    for (const e of await readdir(p, { withFileTypes: true })) {
      const full = join(p, e.name);
      if (e.isDirectory()) {
        dirs.push(relative(root, full));
        await walk(full);
      } else files.push(relative(root, full));
    }
  };
  await walk(root);
  return { files: files.sort(), dirs: dirs.sort() };
}

/** A copy of a planted tree holds exactly the kept files, and the kept (emptied) directories. */
export function assertCopy(copied: { files: string[]; dirs: string[] }): void {
  assert.deepEqual(copied.files, [...KEPT].sort(), 'exactly the kept files are copied');
  for (const dir of KEPT_DIRS) assert.ok(copied.dirs.includes(dir), `${dir}/ is kept (empty)`);
}
