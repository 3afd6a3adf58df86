import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupSession } from '../../src/index.js';
import type { BackupSessionOptions, BackupSummary, SummarySink } from '../../src/index.js';
import type { TestCluster } from './cluster.js';
import { chownToServerUser, run, runOk } from './os-user.js';

/** What a copy must leave out (see POSTGRES-NOTES.md), as GNU tar patterns relative to PGDATA. */
export const TAR_EXCLUDES = [
  './postmaster.pid',
  './postmaster.opts',
  './backup_label',
  './tablespace_map',
  './pg_wal/*',
  './pg_replslot/*',
  './pg_stat_tmp/*',
  './pg_dynshmem/*',
  './pg_notify/*',
  './pg_serial/*',
  './pg_snapshots/*',
  './pg_subtrans/*',
];

/** tar the data directory as backup software would: a separate process, while the server runs. */
export async function tarDataDirectory(cluster: TestCluster, tarball: string): Promise<void> {
  const result = await run('tar', ['-cf', tarball, '--warning=no-file-changed', '--warning=no-file-removed', ...TAR_EXCLUDES.map((x) => `--exclude=${x}`), '-C', cluster.dataDir, '.']);
  // 1 = some files changed while being read: expected for a live cluster.
  if (result.code !== 0 && result.code !== 1) throw new Error(`tar failed (${result.code}): ${result.stderr}`);
}

/** Unpacks a data copy into a new directory owned by the server user. */
export async function untarDataDirectory(tarball: string, parent?: string): Promise<string> {
  const base = parent ?? (await mkdtemp(join(tmpdir(), 'pgsb-restore-')));
  await chmod(base, 0o755);
  const dir = join(base, 'data');
  await mkdir(dir, { mode: 0o700 });
  await runOk('tar', ['-xf', tarball, '-C', dir]);
  await chownToServerUser(dir);
  return dir;
}

/** Options of {@link takeSplitBackup}. */
export interface SplitBackupOptions {
  readonly id: string;
  readonly sinks: readonly SummarySink[];
  readonly tarball: string;
  readonly spoolDirectory: string;
  /** Runs while the backup is held, before the copy (e.g. writes that must be in the backup). */
  readonly during?: () => Promise<void>;
  readonly session?: Partial<BackupSessionOptions>;
}

/** The seed's workflow through the library: start, tar the data directory, stop. */
export async function takeSplitBackup(cluster: TestCluster, options: SplitBackupOptions): Promise<BackupSummary> {
  const session = new BackupSession({
    id: options.id,
    connection: cluster.connectionString,
    sinks: options.sinks,
    spoolDirectory: options.spoolDirectory,
    fast: true,
    ...options.session,
  });
  await session.start();
  await options.during?.();
  await tarDataDirectory(cluster, options.tarball);
  return (await session.stop()).summary;
}
