// `npm run demo`: a real split backup and restore of a throwaway local cluster, with a short report.
// 1. start a cluster, load pgbench data and keep writing;
// 2. `pg-split-backup pre` (the CLI, as a backup program's pre-hook would run it), copy the data
//    directory with tar and the generated exclusions (its own process), `pg-split-backup post`:
//    the summary goes to a directory of its own (the split);
// 3. restore: `pg-split-backup verify` (the WAL archive is complete), untar into a new directory,
//    `pg-split-backup restore` (backup_label from the summary, restore_command from the archive),
//    start, wait for recovery;
// 4. check the pgbench invariant on the restored copy, print the report, clean up.
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { archiveGetCommand, archivePushCommand, copyExclusions } from '../src/index.js';
import { TestCluster, chownToServerUser, clientBin, run, untarDataDirectory } from '../test/harness/index.js';
import { PGSB_PROGRAM, confString } from '../test/harness/wal-archive.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const MAJOR = Number(process.env.PGSB_DEMO_MAJOR ?? 15);
const SCALE = Number(process.env.PGSB_DEMO_SCALE ?? 10);

/** Runs the CLI as a hook script would; fails the demo on a non-zero exit. */
async function cli(args: string[]): Promise<string> {
  const result = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT });
  if (result.code !== 0) throw new Error(`pg-split-backup ${args[0]} exited ${result.code}: ${result.stdout}${result.stderr}`);
  return result.stdout;
}

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
    // The WAL archive, filled by pg-split-backup archive-push (fsync, write-once, gzip) as archive_command.
    const walArchive = join(work, 'wal');
    await mkdir(walArchive);
    await chownToServerUser(walArchive);
    const archiveCommand = archivePushCommand(walArchive, { program: PGSB_PROGRAM, compress: 'gzip' });
    say(`starting a throwaway PostgreSQL ${MAJOR} cluster, archive_command = 'pg-split-backup archive-push %p --archive ${walArchive} --compress gzip'`);
    const source = await TestCluster.start({ major: MAJOR, name: 'demo-source', settings: { archive_command: confString(archiveCommand) } });
    clusters.push(source);
    say(`loading pgbench data (scale ${SCALE})`);
    await source.client('pgbench', ['-i', '-q', '-s', String(SCALE), 'postgres']).then((r) => {
      if (r.code !== 0) throw new Error(`pgbench -i failed: ${r.stderr}`);
    });
    say('pgbench keeps writing during the whole backup');
    const load = source.client('pgbench', ['-n', '-c', '2', '-T', '8', 'postgres']);

    const summaries = join(work, 'summaries');
    const runtimeDir = join(work, 'run');
    const id = `demo-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}`;
    const pre = JSON.parse(await cli(['pre', '--id', id, '--sink', `file://${summaries}`, '--dbname', source.connectionString, '--fast', '--runtime-dir', runtimeDir, '--json'])) as { startLsn: string; startWalFile: string };
    say(`pg-split-backup pre: backup ${id} started at ${pre.startLsn} (${pre.startWalFile}); the holder keeps the session`);
    await delay(2000);
    const tarball = join(work, 'data.tar');
    const excludes = join(work, 'excludes.tar');
    await writeFile(excludes, copyExclusions({ major: MAJOR, format: 'tar' }));
    const tar = await run('tar', ['-cf', tarball, '--warning=no-file-changed', '--warning=no-file-removed', `--exclude-from=${excludes}`, '-C', source.dataDir, '.']);
    // tar exits 1 when files changed while it read them: expected for a live cluster.
    if (tar.code !== 0 && tar.code !== 1) throw new Error(`tar failed: ${tar.stderr}`);
    say(`copied the data directory with tar and the generated exclusions: ${(await sizeOf(tarball) / 1e6).toFixed(0)} MB`);
    const post = JSON.parse(await cli(['post', '--id', id, '--runtime-dir', runtimeDir, '--json'])) as { summary: { stopLsn: string; startWalFile: string; stopWalFile: string }; receipts: { location: string }[] };
    say(`pg-split-backup post: stopped at ${post.summary.stopLsn}; needs WAL ${post.summary.startWalFile} .. ${post.summary.stopWalFile}, archived`);
    say(`summary saved apart from the data copy: ${post.receipts.map((r) => r.location).join(', ')}`);
    await load;

    const verified = JSON.parse(await cli(['verify', '--id', id, '--store', `file://${summaries}`, '--wal-archive', walArchive, '--json'])) as { needed: string[] };
    say(`pg-split-backup verify: all ${verified.needed.length} WAL files the backup needs are archived`);
    say('restoring into a new directory');
    const restored = await untarDataDirectory(tarball, work);
    // restore_command = pg-split-backup archive-get %f %p --archive DIR (decompresses the .gz files).
    const restoreCommand = archiveGetCommand(walArchive, { program: PGSB_PROGRAM });
    const report = JSON.parse(await cli(['restore', '--id', id, '--store', `file://${summaries}`, '--pgdata', restored, '--restore-command', restoreCommand, '--json'])) as { written: string[] };
    say(`pg-split-backup restore: wrote ${report.written.join(', ')}; restore_command is archive-get`);
    // archive_mode=off: the promoted copy must not archive its new timeline into the source's archive.
    const copy = await TestCluster.start({ major: MAJOR, existingDataDir: restored, name: 'demo-restored', archive: false, settings: { archive_mode: 'off' } });
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
    const archived = (await readdir(walArchive)).length;
    console.log(`\nResult: ${ok && amcheck.code === 0 ? 'PASS' : 'FAIL'} (backup ${id}, ${archived} WAL files archived by archive-push, ${elapsed()} in all)`);
    if (!ok || amcheck.code !== 0) process.exitCode = 1;
  } finally {
    for (const cluster of clusters.reverse()) await cluster.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
