// `npm run demo`: a real split backup and restore of a throwaway local cluster, with a short report.
// 1. start a cluster, load pgbench data and keep writing;
// 2. start the backup, copy the data directory with tar (its own process, as backup software would),
//    stop the backup: the summary goes to a directory of its own (the split);
// 3. restore: untar into a new directory, install backup_label from the summary, point
//    restore_command at the WAL archive, start, wait for recovery to finish;
// 4. check the pgbench invariant on the restored copy, print the report, clean up.
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { BackupSession, FilesystemSummaryStore } from '../src/index.js';
import { TestCluster, chownToServerUser, clientBin, run, runOk } from '../test/harness/index.js';

const MAJOR = Number(process.env.PGSB_DEMO_MAJOR ?? 15);
const SCALE = Number(process.env.PGSB_DEMO_SCALE ?? 10);
const TAR_EXCLUDES = ['./postmaster.pid', './postmaster.opts', './pg_wal/*', './pg_replslot/*', './pg_stat_tmp/*', './pg_dynshmem/*', './pg_notify/*', './pg_serial/*', './pg_snapshots/*', './pg_subtrans/*', './backup_label', './tablespace_map'];

const t0 = performance.now();
const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
const say = (line: string): void => console.log(`[${elapsed().padStart(6)}] ${line}`);

async function sizeOf(path: string): Promise<number> {
  return (await stat(path)).size;
}

async function invariant(cluster: TestCluster): Promise<{ accounts: string; history: string }> {
  const [row] = await cluster.query<{ accounts: string; history: string }>(
    'SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history',
  );
  return row!;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-demo-'));
  await chmod(work, 0o755); // the server runs as postgres when we are root
  const clusters: TestCluster[] = [];
  try {
    say(`starting a throwaway PostgreSQL ${MAJOR} cluster`);
    const source = await TestCluster.start({ major: MAJOR, name: 'demo-source' });
    clusters.push(source);
    say(`loading pgbench data (scale ${SCALE})`);
    await source.client('pgbench', ['-i', '-q', '-s', String(SCALE), 'postgres']).then((r) => {
      if (r.code !== 0) throw new Error(`pgbench -i failed: ${r.stderr}`);
    });
    say('pgbench keeps writing during the whole backup');
    const load = source.client('pgbench', ['-n', '-c', '2', '-T', '8', 'postgres']);

    const summaries = join(work, 'summaries');
    const id = `demo-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}`;
    const session = new BackupSession({
      id,
      connection: source.connectionString,
      sinks: [new FilesystemSummaryStore({ directory: summaries })],
      spoolDirectory: join(work, 'spool'),
      fast: true,
    });
    const started = await session.start();
    say(`backup ${id} started at ${started.startLsn} (${started.startWalFile})`);
    await delay(2000);
    const tarball = join(work, 'data.tar');
    await runOk('tar', ['-cf', tarball, '--warning=no-file-changed', '--warning=no-file-removed', ...TAR_EXCLUDES.map((x) => `--exclude=${x}`), '-C', source.dataDir, '.']).catch(async (error: Error) => {
      // tar exits 1 when files changed while it read them: expected for a live cluster.
      if (!/exited 1:/.test(error.message)) throw error;
    });
    say(`copied the data directory with tar: ${(await sizeOf(tarball) / 1e6).toFixed(0)} MB`);
    const { summary, receipts } = await session.stop();
    say(`backup stopped at ${summary.stopLsn}; needs WAL ${summary.startWalFile} .. ${summary.stopWalFile}, archived`);
    say(`summary saved apart from the data copy: ${receipts.map((r) => r.location).join(', ')}`);
    await load;

    say('restoring into a new directory');
    const restored = join(work, 'restored');
    await mkdir(restored, { mode: 0o700 });
    await runOk('tar', ['-xf', tarball, '-C', restored]);
    const fromStore = await new FilesystemSummaryStore({ directory: summaries }).get(id);
    await writeFile(join(restored, 'backup_label'), fromStore.labelFile, { mode: 0o600 });
    if (fromStore.tablespaceMap) await writeFile(join(restored, 'tablespace_map'), fromStore.tablespaceMap, { mode: 0o600 });
    await rm(join(restored, 'pg_wal'), { recursive: true, force: true });
    await mkdir(join(restored, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
    const restoreCommand = `cp ${source.archiveDir}/%f %p`;
    if (MAJOR >= 12) {
      await writeFile(join(restored, 'recovery.signal'), '');
      await writeFile(join(restored, 'postgresql.auto.conf'), `restore_command = '${restoreCommand}'\n`, { flag: 'a' });
    } else {
      await writeFile(join(restored, 'recovery.conf'), `restore_command = '${restoreCommand}'\n`);
    }
    await chownToServerUser(restored);
    const copy = await TestCluster.start({ major: MAJOR, existingDataDir: restored, name: 'demo-restored' });
    clusters.push(copy);
    for (let i = 0; i < 600; i++) {
      const [row] = await copy.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      if (!row!.r) break;
      await delay(100);
    }
    const log = await copy.log();
    const consistent = /consistent recovery state reached at (\S+)/.exec(log)?.[1];
    say(`restored cluster is up: consistent at ${consistent ?? '(not logged)'}, recovery finished`);
    const after = await invariant(copy);
    const ok = after.accounts === after.history && consistent !== undefined;
    say(`pgbench invariant on the restored copy: sum(abalance)=${after.accounts}, sum(delta)=${after.history} -> ${ok ? 'HOLDS' : 'BROKEN'}`);
    const amcheck = await run(clientBin('pg_amcheck'), ['-h', copy.host, '-p', String(copy.port), '-U', copy.user, '--install-missing', '-d', 'postgres']);
    say(`pg_amcheck on the restored copy: ${amcheck.code === 0 ? 'no corruption found' : `exit ${amcheck.code}: ${amcheck.stdout}${amcheck.stderr}`}`);
    const archived = (await readdir(source.archiveDir)).length;
    console.log(`\nResult: ${ok && amcheck.code === 0 ? 'PASS' : 'FAIL'} (backup ${id}, ${archived} WAL files archived, ${elapsed()} in all)`);
    if (!ok || amcheck.code !== 0) process.exitCode = 1;
  } finally {
    for (const cluster of clusters.reverse()) await cluster.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
