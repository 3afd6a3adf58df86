// A WAL file that is in the archive but cannot be fetched (here: a damaged .gz) after the restore
// is consistent. PostgreSQL reads restore_command's exits 1-125 as "no such file": archive recovery
// would end at that file and promote without the WAL after it. archive-get must stop recovery
// instead (exit 126), a drill must fail rather than pass on the shorter history, and a standby must
// keep asking (exit 1) and catch up once the file is good.
// On 11 (recovery.conf, standby_mode) and 15 (signal files): how a standby is told apart differs.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { archiveGetCommand, archivePushCommand, drill, FilesystemSummaryStore, isBackupError, openWalArchive, prepareRestore, stopWalFileName } from '../../src/index.js';
import { chownToServerUser, TestCluster, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';
import { binDirFor } from '../harness/majors.js';
import { confString, pgsbProgramFor } from '../harness/wal-archive.js';

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(200);
  }
}

const tableExists = async (cluster: TestCluster, name: string): Promise<boolean> =>
  (await cluster.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]))[0]!.t !== null;

describe('archive-get when a file is there but cannot be fetched, after consistency', () => {
  for (const major of [11, 15].filter((m) => testMajors().includes(m))) {
    test(`PostgreSQL ${major}: archive recovery stops (exit 126) instead of ending early; a standby waits (exit 1) and catches up once the file is repaired`, async () => {
      const work = await mkdtemp(join(tmpdir(), `pgsb-get-failure${major}-`));
      await chmod(work, 0o755);
      let source: TestCluster | undefined;
      let standby: TestCluster | undefined;
      try {
        const walDir = join(work, 'wal');
        await mkdir(walDir);
        await chownToServerUser(walDir);
        const url = `file://${walDir}`;
        const program = pgsbProgramFor(undefined);
        // gzip, so that restore writes archive-get as restore_command (plain files get cp).
        source = await TestCluster.start({ major, name: `get-failure${major}`, settings: { archive_command: confString(archivePushCommand(url, { program, compress: 'gzip' })), archive_timeout: '0' } });
        const init = await source.client('pgbench', ['-i', '-q', '-s', '1', 'postgres']);
        assert.equal(init.code, 0, init.stderr);
        const store = new FilesystemSummaryStore({ directory: join(work, 'summaries') });
        const tarball = join(work, 'data.tar');
        const id = `get-failure-${major}`;
        const summary = await takeSplitBackup(source, { id, sinks: [store], tarball, spoolDirectory: join(work, 'spool') });

        // After the backup: after_a in one segment, after_b in the next; the latter is damaged.
        await source.query('CREATE TABLE after_a AS SELECT 1 AS x');
        await source.query('SELECT pg_switch_wal()');
        await source.query('CREATE TABLE after_b AS SELECT 2 AS x');
        // Inside the segment that holds after_b (at a segment's start, pg_walfile_name names the one before).
        const [{ name: damagedSegment }] = (await source.query<{ name: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS name')) as [{ name: string }];
        await source.query('SELECT pg_switch_wal()');
        // Past the backup's stop segment: the restore is consistent before it, where an exit 1 would end recovery.
        assert.ok(damagedSegment > stopWalFileName(summary.timeline, summary.stopLsn, summary.walSegmentSize), damagedSegment);
        await waitUntil(`${damagedSegment} is archived`, async () => {
          const [row] = await source!.query<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver');
          return row!.last !== null && row!.last >= damagedSegment;
        });
        await source.destroy();
        source = undefined;
        const stored = join(walDir, `${damagedSegment}.gz`);
        const good = await readFile(stored);
        await writeFile(stored, 'not gzip at all');

        // Archive recovery: must not come up without after_b.
        const archive = await openWalArchive(url);
        const pgdata = await untarDataDirectory(tarball, await mkdtemp(join(work, 'recovery-')));
        await prepareRestore({ id, store, pgdata, walArchive: url, archiveProgram: program, archive });
        const conf = await readFile(join(pgdata, major >= 12 ? 'postgresql.auto.conf' : 'recovery.conf'), 'utf8');
        assert.ok(conf.includes(`restore_command = ${confString(archiveGetCommand(url, { program }))}`), conf);
        const came = await TestCluster.start({ major, existingDataDir: pgdata, name: `get-failure-recovery${major}`, archive: false, settings: { archive_mode: 'off' } }).then(
          async (cluster) => {
            // 10-11: pg_ctl -w returns once hot standby takes connections, before recovery ends or fails.
            let promoted = false;
            await waitUntil('recovery ends or fails', async () => {
              try {
                promoted = !(await cluster.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r;
                return promoted;
              } catch {
                return true; // the server has gone
              }
            });
            const log = await cluster.log();
            await cluster.destroy();
            return { up: promoted, log };
          },
          (error: Error) => ({ up: false, log: error.message }),
        );
        assert.equal(came.up, false, `recovery ended at the damaged file and the server came up without after_b:\n${came.log.slice(-3000)}`);
        // 126 reads "command not executable" in the server's words.
        assert.match(came.log, new RegExp(`could not restore file "${damagedSegment}" from archive: (child process exited with exit code 126|command not executable)`));
        assert.doesNotMatch(came.log, /selected new timeline ID|archive recovery complete|database system is ready to accept connections/);

        // A drill of the same backup fails instead of proving a restore that lacks after_b.
        const scratchDirectory = await mkdtemp(join(work, 'scratch-'));
        await chmod(scratchDirectory, 0o755);
        const copy = await untarDataDirectory(tarball, await mkdtemp(join(work, 'drill-')));
        const binDir = binDirFor(major);
        await assert.rejects(
          drill({ id, store, dataCopy: copy, scratchDirectory, walArchive: url, archiveProgram: program, binDir, checkSql: ["SELECT to_regclass('after_b') IS NOT NULL"] }),
          (error: unknown) => isBackupError(error, 'SERVER_ERROR') && /Recovery of backup .* failed/.test((error as Error).message) && /command not executable|exit code 126/.test((error as Error).message),
        );

        // A standby asks again and goes on once the file is good.
        const standbyData = await untarDataDirectory(tarball, await mkdtemp(join(work, 'standby-')));
        await prepareRestore({ id, store, pgdata: standbyData, walArchive: url, archiveProgram: program, archive, standby: true });
        standby = await TestCluster.start({ major, existingDataDir: standbyData, name: `get-failure-standby${major}`, archive: false, settings: { archive_mode: 'off', wal_retrieve_retry_interval: '200ms' } });
        const running = standby;
        await waitUntil('the standby replays after_a', () => tableExists(running, 'after_a'));
        await delay(1500); // several retries of the damaged file
        assert.equal(await tableExists(running, 'after_b'), false, 'after_b lies past the damaged file');
        assert.equal((await running.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r, true, 'still a standby: it did not promote');
        assert.doesNotMatch(await running.log(), /exit code 126/);
        await writeFile(stored, good);
        await waitUntil('the standby replays after_b once the file is repaired', () => tableExists(running, 'after_b'));
      } finally {
        await standby?.destroy();
        await source?.destroy();
        await rm(work, { recursive: true, force: true });
      }
    });
  }
});
