// A real Bacula (Debian's 9.6 director with a sqlite3 catalog, storage daemon, file daemon and
// bconsole, all on 127.0.0.1, started here as foreground children) runs the Bacula recipe of
// docs/hooks.md as written: bacula-before.sh / bacula-after.sh as ClientRunBeforeJob /
// ClientRunAfterJob with %n-%i, the FileSet from `excludes --format bacula`, the abort RunScript, and
// the summaries job started by a director-side RunScript through bconsole. The data and the
// summaries come back through a bconsole restore, `pg-split-backup restore` joins them, and the
// restored server has the row written before the backup.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FilesystemSummaryStore } from '../../src/index.js';
import { BaculaSite, type BaculaJob } from '../harness/bacula.js';
import { chownToServerUser, TestCluster } from '../harness/index.js';
import { assertCopy, plant, tree } from '../copy/exclusion-tree.js';
import { CliSandbox, explain, ROOT, waitFor } from '../cli/cli-helpers.js';

const MAJOR = 15;
const HOOKS = join(ROOT, 'examples', 'hooks');
// Absolute, because the file daemon runs the hooks from its own working directory.
const PGSB_BIN = `${process.execPath} --import ${import.meta.resolve('tsx')} ${join(ROOT, 'src', 'cli', 'main.ts')}`;

/** The Job and FileSet resources of docs/hooks.md, with this machine's paths. */
function recipe(o: { pgdata: string; summaries: string; excludes: string; bconsoleConf: string; planted: string; plantedExcludes: string }): string {
  const hooks = (name: string): string => `
  ClientRunBeforeJob = "${HOOKS}/bacula-before.sh %n-%i"
  ClientRunAfterJob = "${HOOKS}/bacula-after.sh %n-%i"
  RunScript {
    RunsWhen = After; RunsOnSuccess = No; RunsOnFailure = Yes; RunsOnClient = Yes; FailJobOnError = No
    Command = "${PGSB_BIN} abort --id %n-%i"
  }
  RunScript {
    RunsWhen = After; RunsOnSuccess = Yes; RunsOnFailure = No; RunsOnClient = No
    Command = "sh -c 'echo run job=pg-summaries level=Full yes | /usr/sbin/bconsole -c ${o.bconsoleConf}'"
  }
  # ${name}`;
  return `
Job { Name = "pg-base"; JobDefs = pgsb-defaults; FileSet = "pg-data"${hooks('the data job')}
}
Job { Name = "pg-summaries"; JobDefs = pgsb-defaults; FileSet = "pg-summaries" }
FileSet {
  Name = "pg-data"
  Include {
    @${o.excludes}
    Options { signature = MD5 }
    File = ${o.pgdata}
  }
}
FileSet { Name = "pg-summaries"; Include { Options { signature = MD5 } File = ${o.summaries} } }

# The same job, on a pool without volumes and a device that may not label one: it waits for an
# operator after pre has started the backup, and is cancelled.
Job { Name = "pg-stuck"; JobDefs = pgsb-defaults; FileSet = "pg-data"; Pool = NoVolumes; Storage = Offline${hooks('a job that fails after pre')}
}
Pool { Name = NoVolumes; Pool Type = Backup }

# The recipe docs/hooks.md had before: a Console RunScript that runs the summaries job.
Job { Name = "console-way"; JobDefs = pgsb-defaults; FileSet = "planted"
  RunScript { RunsWhen = After; RunsOnSuccess = Yes; RunsOnClient = No; Console = "run job=pg-summaries level=Full yes" }
}

# A planted tree through the same excludes: Bacula leaves out exactly what tar and rsync do.
Job { Name = "planted"; JobDefs = pgsb-defaults; FileSet = "planted" }
FileSet {
  Name = "planted"
  Include {
${o.plantedExcludes}
    Options { signature = MD5 }
    File = ${o.planted}
  }
}
`;
}

describe(`Bacula on PostgreSQL ${MAJOR}`, () => {
  let cluster: TestCluster;
  let sandbox: CliSandbox;
  let site: BaculaSite;
  let summaries: string;
  before(async () => {
    cluster = await TestCluster.start({ major: MAJOR, name: 'ex-bacula' });
    sandbox = await CliSandbox.create();
    await chmod(sandbox.base, 0o755); // the restored server runs as postgres
    summaries = join(sandbox.base, 'summaries');
    const excludes = async (pgdata: string, major: number): Promise<string> => {
      const out = await sandbox.run(['excludes', '--format', 'bacula', '--pg-major', String(major), '--pgdata', pgdata]);
      assert.equal(out.code, 0, explain(out));
      return out.stdout;
    };
    const planted = join(sandbox.base, 'planted');
    await plant(planted);
    // As docs/hooks.md has it: the data job's FileSet includes the file with `@`, the planted one pastes it.
    const dataExcludes = join(sandbox.base, 'pg-excludes.conf');
    await writeFile(dataExcludes, await excludes(cluster.dataDir, MAJOR));
    const plantedExcludes = await excludes(planted, 17);
    site = await BaculaSite.start({
      resources: ({ bconsoleConf, sdPort }) =>
        `${recipe({ pgdata: cluster.dataDir, summaries, excludes: dataExcludes, bconsoleConf, planted, plantedExcludes })}
Storage { Name = Offline; Address = 127.0.0.1; SDPort = ${sdPort}; Password = "sd-secret"; Device = OfflineDev; Media Type = Offline }`,
      devices: ({ dir }) =>
        `Device { Name = OfflineDev; Media Type = Offline; Archive Device = "${dir}/volumes"; LabelMedia = no; Random Access = yes; AutomaticMount = yes; RemovableMedia = no; AlwaysOpen = no }`,
      fdEnv: sandbox.env({
        PGSB_BIN,
        PG_SPLIT_BACKUP_RUNTIME_DIR: sandbox.runtimeDir,
        PGSB_DB: cluster.connectionString,
        PGSB_SUMMARIES: summaries,
        PGSB_SUMMARY_COPY: join(sandbox.base, 'offsite'),
      }),
    });
  });
  after(async () => {
    await site?.destroy();
    await sandbox?.destroy();
    await cluster?.destroy();
  });

  /** Restores every file of job `jobId` under `where` with bconsole, and returns the restore job. */
  async function restore(jobId: number, where: string): Promise<BaculaJob> {
    const out = await site.console(`restore jobid=${jobId} client=pgsb-fd where=${where} all done yes`);
    const queued = /Job queued\. JobId=(\d+)/.exec(out);
    assert.ok(queued, out);
    return site.waitForJob(Number(queued[1]));
  }

  test('a FileSet from excludes --format bacula leaves out what tar and rsync leave out, keeping pg_wal/archive_status/ and pg_wal/summaries/', async () => {
    const job = await site.waitForJob(await site.run('job=planted'));
    assert.equal(job.status, 'T', await site.jobLog(job.jobId));
    const where = join(site.dir, 'restores', 'planted');
    const restored = await restore(job.jobId, where);
    assert.equal(restored.status, 'T', await site.jobLog(restored.jobId));
    assertCopy(await tree(join(where, sandbox.base, 'planted')));
  });

  test('pg-base: the hooks take the backup, the summaries job runs, and a bconsole restore plus restore brings the row back', async () => {
    await cluster.query("CREATE TABLE before_bacula AS SELECT 'kept' AS word");
    // A live copy: a writer keeps going while the file daemon reads.
    let writing = true;
    await cluster.query('CREATE TABLE during_bacula (n int)');
    const writer = (async () => {
      while (writing) await cluster.query('INSERT INTO during_bacula SELECT generate_series(1, 500)');
    })();
    const jobId = await site.run('job=pg-base');
    const job = await site.waitForJob(jobId).finally(() => (writing = false));
    await writer;
    const log = await site.jobLog(jobId);
    assert.equal(job.status, 'T', `${log}\n${await site.logs()}`);
    const id = `pg-base-${jobId}`; // %n-%i
    const summary = await new FilesystemSummaryStore({ directory: summaries }).get(id);
    assert.match(summary.labelFile, new RegExp(`LABEL: ${id}`));

    // The summaries job provably ran: the data job's log shows it queued, the catalog has it done,
    // and its files hold this backup's summary.
    // The catalog may say T before the director's After RunScript has logged its output.
    let queued: RegExpExecArray | null = null;
    let afterLog = log;
    await waitFor(async () => (queued = /AfterJob: Job queued\. JobId=(\d+)/.exec((afterLog = await site.jobLog(jobId)))) !== null, 20_000, 250);
    assert.ok(queued, `the summaries job was not queued:\n${afterLog}`);
    const summariesJob = await site.waitForJob(Number(queued[1]));
    assert.deepEqual([summariesJob.name, summariesJob.status], ['pg-summaries', 'T'], await site.jobLog(summariesJob.jobId));
    assert.match(await site.console(`list files jobid=${summariesJob.jobId}`), new RegExp(`${summaries}/${id}/backup_label`));

    // Both come back through bconsole; the summaries from their own job, not from the sink.
    const where = join(sandbox.base, 'restored');
    await mkdir(where, { mode: 0o755 });
    const data = await restore(jobId, join(where, 'data'));
    if (data.status !== 'T') {
      // A live copy: a file that grew while it was read restores with "File size of restored file
      // ... not correct" and the job ends "*** Restore Error ***"; WAL replay rewrites it. Any other
      // daemon error is a real one.
      const restoreLog = await site.jobLog(data.jobId);
      const errors = restoreLog.split('\n').filter((l) => /pgsb-(fd|sd) JobId \d+: (Error|Fatal error)/.test(l));
      assert.ok(errors.length > 0, restoreLog);
      assert.deepEqual(errors.filter((l) => !/File size of restored file .* not correct/.test(l)), [], `restore job ${data.jobId} ended ${data.status}:\n${restoreLog}`);
      assert.match(restoreLog, /Restore Error/);
    }
    const summaryRestore = await restore(summariesJob.jobId, join(where, 'summaries'));
    assert.equal(summaryRestore.status, 'T', await site.jobLog(summaryRestore.jobId));
    const pgdata = join(where, 'data', cluster.dataDir);
    const restoredSummaries = join(where, 'summaries', summaries);
    for (const left of ['postmaster.pid', 'backup_label']) assert.equal(existsSync(join(pgdata, left)), false, `${left} was copied`);
    assert.deepEqual((await readdir(join(pgdata, 'pg_wal'))).filter((f) => /^[0-9A-F]{24}$/.test(f)), [], 'no WAL segment was copied');
    assert.ok(existsSync(join(pgdata, 'pg_wal', 'archive_status')), 'pg_wal/archive_status/ is kept');

    const prepared = await sandbox.run(['restore', '--id', id, '--store', restoredSummaries, '--pgdata', pgdata, '--wal-archive', cluster.archiveDir]);
    assert.equal(prepared.code, 0, explain(prepared));
    await chownToServerUser(where);
    // archive_mode=off: the promoted copy must not archive its new timeline into the source's archive.
    const restored = await TestCluster.start({ major: MAJOR, existingDataDir: pgdata, name: 'ex-bacula-restored', archive: false, settings: { archive_mode: 'off' } });
    try {
      assert.deepEqual(await restored.query('SELECT word FROM before_bacula'), [{ word: 'kept' }]);
    } finally {
      await restored.destroy();
    }
  });

  test('the old recipe, a Console = "run job=..." RunScript, is refused by Bacula: the job ends OK and no summaries job runs', async () => {
    const before = (await site.jobs()).filter((j) => j.name === 'pg-summaries').length;
    const jobId = await site.run('job=console-way');
    const job = await site.waitForJob(jobId);
    assert.equal(job.status, 'T', await site.jobLog(jobId));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // The refusal is logged under JobId 0, in the message files only; the job's own log shows the command.
    const messages = (await Promise.all(['jobs.log', 'daemon.log'].map((f) => readFile(join(site.dir, f), 'utf8').catch(() => '')))).join('\n');
    assert.match(messages, new RegExp(`JobId ${jobId}: console command: run AfterJob "run job=pg-summaries`), messages.slice(-3000));
    assert.match(messages, /JobId 0: Can't use run command in a runscript/, messages.slice(-3000));
    assert.equal((await site.jobs()).filter((j) => j.name === 'pg-summaries').length, before, 'no summaries job was started');
  });

  test('a job cancelled after pre runs the abort RunScript: the backup is aborted, not left open until --max-hold', async () => {
    const jobId = await site.run('job=pg-stuck');
    const id = `pg-stuck-${jobId}`;
    // pre has started the backup, and the job waits for a volume that never comes.
    assert.ok(
      await waitFor(async () => (await sandbox.run(['status', '--id', id])).code === 0, 30_000, 250),
      `the backup never started:\n${await site.jobLog(jobId)}\n${await site.logs()}`,
    );
    await site.console(`cancel jobid=${jobId} yes`);
    const job = await site.waitForJob(jobId);
    assert.equal(job.status, 'A', await site.jobLog(jobId));
    assert.ok(await waitFor(async () => (await sandbox.run(['status', '--id', id])).code === 3, 15_000, 250), `the backup is still running:\n${await site.jobLog(jobId)}`);
    // The client ran the abort RunScript, and not the post of bacula-after.sh.
    const log = await site.jobLog(jobId);
    assert.match(log, new RegExp(`run ClientAfterJob ".* abort --id ${id}"`));
    assert.doesNotMatch(log, /bacula-after\.sh/);
    const status = await sandbox.run(['status', '--id', id]);
    assert.match(status.stdout + status.stderr, /abort/i, explain(status));
    assert.deepEqual(await site.jobs().then((jobs) => jobs.filter((j) => j.name === 'pg-summaries' && j.jobId > jobId)), [], 'no summaries job after a failed data job');
    const running = await sandbox.run(['status', '--json']);
    assert.deepEqual(running.json?.backups, [], explain(running));
    assert.equal(existsSync(join(summaries, id)), false, 'no summary for an aborted backup');
  });
});
