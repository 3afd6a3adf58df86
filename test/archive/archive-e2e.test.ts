// Real servers archiving through `archive-push` (archive_command, run by PostgreSQL as its OS user
// from the data directory), a split backup under pgbench, and a restore whose restore_command is
// `archiveGetCommand()`: it must reach consistency with the pgbench invariant intact. One case per
// major and target, not every major: the commands do not depend on the major, PostgreSQL's
// calling convention (10's recovery.conf, 12+'s signal files) is what each case proves.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { archiveGetCommand, archivePushCommand, FilesystemSummaryStore, openWalArchive, prepareRestore, stopWalFileName, verifyWal } from '../../src/index.js';
import { chownToServerUser, TestCluster, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import { TestS3Server } from '../harness/s3-server.js';
import { confString, pgsbProgramFor, s3ArchiveUrl } from '../harness/wal-archive.js';

interface Case {
  readonly major: number;
  readonly target: 'directory' | 's3';
  readonly compress: 'none' | 'gzip';
  /** Stop the S3 server while a segment waits: archive_command fails, PostgreSQL retries, nothing is lost. */
  readonly outage?: boolean;
}

const CASES: readonly Case[] = [
  { major: 10, target: 'directory', compress: 'none' },
  // recovery.conf (10-11) holds the S3 restore_command with its shell part.
  { major: 11, target: 's3', compress: 'none' },
  { major: 15, target: 'directory', compress: 'gzip' },
  { major: 15, target: 's3', compress: 'none', outage: true },
  { major: 18, target: 's3', compress: 'gzip' },
];

async function archiverStats(cluster: TestCluster): Promise<{ archived: number; failed: number; lastArchived: string | null }> {
  const [row] = await cluster.query<{ archived: number; failed: number; last: string | null }>(
    'SELECT archived_count::int AS archived, failed_count::int AS failed, last_archived_wal AS last FROM pg_stat_archiver',
  );
  return { archived: row!.archived, failed: row!.failed, lastArchived: row!.last };
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(200);
  }
}

describe('archive-push as archive_command, archive-get as restore_command, on real servers', () => {
  for (const c of CASES.filter((each) => testMajors().includes(each.major))) {
    test(`PostgreSQL ${c.major} → ${c.target}${c.compress === 'gzip' ? ' (gzip)' : ''}${c.outage ? ', S3 down then up' : ''}: backup under pgbench restores to consistency through archive-get`, async () => {
      const work = await mkdtemp(join(tmpdir(), `pgsb-archive-e2e${c.major}-`));
      await chmod(work, 0o755);
      const s3 = c.target === 's3' ? await TestS3Server.start('wal') : undefined;
      let source: TestCluster | undefined;
      let restored: TestCluster | undefined;
      try {
        const walDir = join(work, 'wal');
        await mkdir(walDir);
        await chownToServerUser(walDir); // archive_command runs as the server user
        const url = s3 ? s3ArchiveUrl(s3, `pg${c.major}/wal`) : `file://${walDir}`;
        const program = pgsbProgramFor(s3);
        source = await TestCluster.start({
          major: c.major,
          name: `archive-e2e${c.major}`,
          settings: { archive_command: confString(archivePushCommand(url, { program, compress: c.compress })), archive_timeout: '0' },
        });
        const init = await source.client('pgbench', ['-i', '-q', '-s', '1', 'postgres']);
        assert.equal(init.code, 0, init.stderr);

        if (c.outage && s3) {
          // The target goes away with a segment waiting: PostgreSQL sees failures, keeps the WAL, retries.
          const before = await archiverStats(source);
          await s3.stop();
          await source.query('SELECT pg_switch_wal()');
          await waitUntil('archive_command failed at least once', async () => (await archiverStats(source!)).failed > before.failed);
          await s3.startAgain();
        }

        const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
        const tarball = join(work, 'data.tar');
        const load = source.client('pgbench', ['-n', '-c', '2', '-T', '3', 'postgres']);
        const id = `archive-e2e-${c.major}`;
        // post waits until the stop segment is archived: through archive-push.
        const summary = await takeSplitBackup(source, { id, sinks: [store], tarball, spoolDirectory: join(work, 'spool'), during: () => delay(1000) });
        assert.equal((await load).code, 0);

        const archive = s3 ? new S3WalArchive(s3.storeOptions(`pg${c.major}/wal`)) : await openWalArchive(url);
        const verified = await verifyWal(summary, archive);
        assert.deepEqual(verified.missing, [], 'every segment the backup needs is in the archive, none lost in the outage');
        const names = await archive.listFileNames();
        if (c.compress === 'gzip') assert.ok(names.every((n) => n.endsWith('.gz')), names.join(' '));
        // The segments from the first one archived through the stop segment, without a gap.
        const segments = names.map((n) => n.replace(/\.gz$/, '')).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
        const first = BigInt(`0x${segments[0]!.slice(16)}`);
        assert.deepEqual(segments.map((n) => BigInt(`0x${n.slice(16)}`) - first), segments.map((_, i) => BigInt(i)), `no gap in ${segments.join(' ')}`);
        const stats = await archiverStats(source);
        if (c.outage) assert.ok(stats.failed > 0);

        const pgdata = await untarDataDirectory(tarball, work);
        // restore --wal-archive URL: it checks the archive (listed with the test's S3 credentials),
        // then writes archive-get for S3 or gzip, cp for plain files.
        const report = await prepareRestore({ id, store, pgdata, walArchive: url, archiveProgram: program, archive });
        assert.equal(report.walCheck?.complete, true);
        const autoConf = await readFile(join(pgdata, c.major >= 12 ? 'postgresql.auto.conf' : 'recovery.conf'), 'utf8');
        const expected = s3 || c.compress === 'gzip' ? archiveGetCommand(url, { program }) : `cp '${walDir}/%f' "%p"`;
        assert.ok(autoConf.includes(`restore_command = ${confString(expected)}`), autoConf);
        restored = await TestCluster.start({ major: c.major, existingDataDir: pgdata, name: `archive-e2e-restored${c.major}`, archive: false, settings: { archive_mode: 'off' } });
        await waitUntil('recovery ends', async () => !(await restored!.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r);
        await restored.waitForLog(/consistent recovery state reached/);
        const log = await restored.log();
        // restore_command was asked for files the archive lacks (the next timeline's history, the
        // segment after the last), answered with exit 1, and recovery went on.
        assert.doesNotMatch(log, /restore_command.*(terminated by signal|exit code (?:[2-9]|\d{2,}))|FATAL/);
        const [row] = await restored.query<{ accounts: string; history: string }>(
          'SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history',
        );
        assert.equal(row!.accounts, row!.history, 'pgbench invariant on the restored copy');
        if (s3) {
          // archive-get prefetches from S3 by default; the queue is cleared once recovery has ended.
          const queue = join(pgdata, 'pg_wal', 'pgsb-prefetch');
          await waitUntil('the prefetch queue is cleared', async () => (await readdir(queue).catch(() => [] as string[])).every((n) => !/^[0-9A-F]{24}$|\.missing$|lock$/.test(n)), 10_000);
          const prefetcherLog = await readFile(join(queue, 'prefetcher.log'), 'utf8');
          assert.match(prefetcherLog, /recovery has ended/);
          // PostgreSQL took what the prefetcher queued (by the line's shell part, or archive-get).
          assert.ok(Number(/(\d+) taken from the queue/.exec(prefetcherLog)?.[1]) >= 1, prefetcherLog);
        }
        assert.ok(stopWalFileName(summary.timeline, summary.stopLsn, summary.walSegmentSize) <= segments[segments.length - 1]!);
      } finally {
        await restored?.destroy();
        await source?.destroy();
        await s3?.destroy();
        await rm(work, { recursive: true, force: true });
      }
    });
  }
});
