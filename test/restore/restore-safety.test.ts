// Restore against the copies real users make (issue 10): another backup's copy, a copy that
// followed the tablespace symlink, a copy made without the exclusions and restored beside the
// running source, and an archive that lacks the WAL. Each refusal leaves every directory as it was;
// each change restore makes is in its report.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BackupSession, FilesystemSummaryStore, prepareRestore } from '../../src/index.js';
import type { BackupSummary } from '../../src/index.js';
import { judgePostmasterPid } from '../../src/restore/postmaster-pid.js';
import { contentSnapshot as snapshot } from '../bad-input/cases.js';
import { TAR_EXCLUDES, TestCluster, chownToServerUser, run, testMajors, untarDataDirectory } from '../harness/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// One major of 10-14 and Debian's 15, where selected: the checks read pg_control and lay out
// tablespaces the same way on every major, so two prove it without the whole matrix.
const wanted = [13, 15].filter((m) => testMajors().includes(m));
const MAJORS = wanted.length > 0 ? wanted : [Math.max(...testMajors())];

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, any>;
}

async function cli(args: string[]): Promise<CliResult> {
  const out = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args, '--json'], { cwd: ROOT });
  return { code: out.code, stdout: out.stdout, stderr: out.stderr, json: JSON.parse(out.stdout || '{}') as Record<string, any> };
}

const explain = (r: CliResult): string => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

/** tar as a backup program would: `dereference` follows the tablespace symlink, `naive` leaves nothing out. */
async function tarCopy(cluster: TestCluster, tarball: string, how: { dereference?: boolean; naive?: boolean }): Promise<void> {
  const args = ['-cf', tarball, '--warning=no-file-changed', '--warning=no-file-removed'];
  if (how.dereference) args.push('--dereference');
  if (!how.naive) args.push(...TAR_EXCLUDES.map((x) => `--exclude=${x}`));
  const result = await run('tar', [...args, '-C', cluster.dataDir, '.']);
  if (result.code !== 0 && result.code !== 1) throw new Error(`tar failed (${result.code}): ${result.stderr}`);
}

/** An empty directory the server user owns, under `parent`. */
async function emptyDirectory(parent: string, name: string): Promise<string> {
  const base = await mkdtemp(join(parent, `pgsb-${name}-`));
  await chmod(base, 0o755);
  const dir = join(base, name);
  await mkdir(dir, { mode: 0o700 });
  await chownToServerUser(dir);
  return dir;
}

/** The PID of a running cluster's postmaster (line 1 of its postmaster.pid). */
async function postmasterPid(cluster: TestCluster): Promise<number> {
  return Number((await readFileLines(join(cluster.dataDir, 'postmaster.pid')))![0]);
}

async function untilPromoted(cluster: TestCluster): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const [row] = await cluster.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    if (!row!.r) return;
    await delay(100);
  }
  throw new Error('the restored server never left recovery');
}

for (const major of MAJORS) {
  describe(`restore safety on PostgreSQL ${major}`, () => {
    let source: TestCluster;
    let work: string;
    let storeDir: string;
    let tsOld: string;
    let oid: string;
    let x: BackupSummary;
    let y: BackupSummary;
    const cleanup: string[] = [];

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'pgsb-safety-'));
      await chmod(work, 0o755);
      // No autovacuum: the refusal tests compare the live source's tablespace byte for byte.
      source = await TestCluster.start({ major, name: `safety${major}`, settings: { autovacuum: 'off' } });
      tsOld = join(work, 'ts-old');
      await mkdir(tsOld, { mode: 0o700 });
      await chownToServerUser(tsOld);
      await source.query(`CREATE TABLESPACE extra LOCATION '${tsOld}'`);
      await source.query('CREATE TABLE in_extra TABLESPACE extra AS SELECT generate_series(1, 5000) AS i');
      await source.query('CREATE TABLE marks (what text)');
      oid = (await source.query<{ oid: string }>("SELECT oid::text FROM pg_tablespace WHERE spcname = 'extra'"))[0]!.oid;
      storeDir = join(work, 'summaries');
      const store = new FilesystemSummaryStore({ directory: storeDir });
      const backup = async (id: string, copies: Array<[string, { dereference?: boolean; naive?: boolean }]>): Promise<BackupSummary> => {
        const session = new BackupSession({ id, connection: source.connectionString, sinks: [store], spoolDirectory: join(work, 'spool'), fast: true });
        await session.start();
        for (const [name, how] of copies) await tarCopy(source, join(work, name), how);
        return (await session.stop()).summary;
      };
      x = await backup('safety-x', [['x.tar', {}]]);
      // Committed between the two backups: restoring Y's label over X's copy would lose it silently.
      await source.query("INSERT INTO marks VALUES ('between x and y')");
      await source.query('CHECKPOINT');
      y = await backup('safety-y', [
        ['y-deref.tar', { dereference: true }],
        ['y-naive.tar', { dereference: true, naive: true }],
      ]);
    });
    after(async () => {
      await source?.destroy();
      for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
      await rm(work, { recursive: true, force: true });
    });

    const copyOf = async (tarball: string): Promise<string> => {
      const pgdata = await untarDataDirectory(join(work, tarball), await mkdtemp(join(tmpdir(), 'pgsb-safety-copy-')));
      cleanup.push(join(pgdata, '..'));
      return pgdata;
    };

    test("another backup's summary is refused with LABEL_MISMATCH naming the backup the copy belongs to, both ways, changing nothing", async () => {
      const xCopy = await copyOf('x.tar');
      const before = await snapshot(xCopy, tsOld);
      const wrong = await cli(['restore', '--id', y.id, '--store', storeDir, '--pgdata', xCopy, '--wal-archive', source.archiveDir, '--target', 'immediate']);
      assert.equal(wrong.code, 2, explain(wrong));
      assert.equal(wrong.json.error.code, 'LABEL_MISMATCH');
      assert.match(wrong.json.error.message, /made before the backup started/);
      assert.deepEqual(wrong.json.error.details.copyOf, [x.id]);
      assert.deepEqual(await snapshot(xCopy, tsOld), before, 'nothing changed');

      const yCopy = await copyOf('y-deref.tar');
      const beforeY = await snapshot(yCopy);
      const reverse = await cli(['restore', '--id', x.id, '--store', storeDir, '--pgdata', yCopy, '--wal-archive', source.archiveDir]);
      assert.equal(reverse.code, 2, explain(reverse));
      assert.equal(reverse.json.error.code, 'LABEL_MISMATCH');
      assert.match(reverse.json.error.message, /made after it ended.*copy of backup safety-y/);
      assert.deepEqual(await snapshot(yCopy), beforeY, 'nothing changed');
    });

    test('a copy that followed the tablespace symlink: refused while its location is the live source’s; with a mapping to an empty directory (across devices) it is moved there, reported, and the server has all rows', async () => {
      const pgdata = await copyOf('y-deref.tar');
      assert.ok((await lstat(join(pgdata, 'pg_tblspc', oid))).isDirectory(), 'tar --dereference made pg_tblspc/<oid> a directory');
      // /dev/shm is a tmpfs: the move crosses devices, so it is a copy made durable, then the source removed.
      const target = await emptyDirectory('/dev/shm', 'ts-new');
      cleanup.push(join(target, '..'));
      assert.notEqual((await stat(target)).dev, (await stat(pgdata)).dev, '/dev/shm is another filesystem');
      const before = await snapshot(pgdata, tsOld, target);
      const refused = await cli(['restore', '--id', y.id, '--store', storeDir, '--pgdata', pgdata, '--wal-archive', source.archiveDir]);
      assert.equal(refused.code, 2, explain(refused));
      assert.equal(refused.json.error.code, 'RESTORE_CONFLICT');
      assert.match(refused.json.error.message, /--tablespace-mapping/);
      assert.deepEqual(await snapshot(pgdata, tsOld, target), before, 'nothing changed, the live tablespace least of all');

      const done = await cli(['restore', '--id', y.id, '--store', storeDir, '--pgdata', pgdata, '--wal-archive', source.archiveDir, '--tablespace-mapping', `${tsOld}=${target}`]);
      assert.equal(done.code, 0, explain(done));
      const versionDir = (await readdir(target)).find((n) => n.startsWith(`PG_${major}_`));
      assert.ok(versionDir, 'the tablespace data is in the new location');
      assert.deepEqual(done.json.moved, [`pg_tblspc/${oid}/${versionDir} -> ${join(target, versionDir)}`]);
      assert.ok(done.json.written.includes(`pg_tblspc/${oid}`));
      assert.equal(await readlink(join(pgdata, 'pg_tblspc', oid)), target);
      assert.deepEqual(await snapshot(tsOld), before.filter((l) => l.startsWith(`${tsOld}:`)), 'the source’s tablespace untouched');
      const again = await prepareRestore({ id: y.id, store: new FilesystemSummaryStore({ directory: storeDir }), pgdata, walArchive: source.archiveDir, tablespaceMapping: { [tsOld]: target } });
      assert.deepEqual(again.moved, [], 'a second run moves nothing');

      const restored = await TestCluster.start({ major, existingDataDir: pgdata, name: `safety-deref${major}`, archive: false });
      try {
        await untilPromoted(restored);
        const [row] = await restored.query<{ n: number; marks: string[] }>('SELECT (SELECT count(*)::int FROM in_extra) AS n, (SELECT array_agg(what) FROM marks) AS marks');
        assert.deepEqual(row, { n: 5000, marks: ['between x and y'] });
      } finally {
        await restored.destroy();
      }
    });

    test('a copy made without the exclusions, restored beside the running source: its postmaster.pid is removed and reported, not taken for a live server', async () => {
      const pgdata = await copyOf('y-naive.tar');
      const [copied] = (await readFileLines(join(pgdata, 'postmaster.pid'))) ?? [];
      assert.equal(Number(copied), await postmasterPid(source), 'the copy carries the source’s postmaster.pid');
      const target = await emptyDirectory(work, 'ts-naive');
      const done = await cli(['restore', '--id', y.id, '--store', storeDir, '--pgdata', pgdata, '--wal-archive', source.archiveDir, '--tablespace-mapping', `${tsOld}=${target}`]);
      assert.equal(done.code, 0, explain(done));
      assert.ok(done.json.removed.includes('postmaster.pid'), explain(done));
      assert.ok(done.json.removed.some((f: string) => /^pg_wal\/[0-9A-F]{24}$/.test(f)), 'the copied WAL is removed and listed');
      assert.ok(done.json.notes.some((n: string) => /postmaster\.pid removed: it came with the copy/.test(n)), explain(done));
      const restored = await TestCluster.start({ major, existingDataDir: pgdata, name: `safety-naive${major}`, archive: false });
      try {
        await untilPromoted(restored);
        const [row] = await restored.query<{ n: number }>('SELECT count(*)::int AS n FROM in_extra');
        assert.equal(row!.n, 5000);
      } finally {
        await restored.destroy();
      }
    });

    test('postmaster.pid naming this directory: the source’s postmaster, a zombie or a gone process is stale; only a server running here is live', async () => {
      const pgdata = await copyOf('y-deref.tar');
      const pidFile = (pid: number): string[] => [String(pid), pgdata, '0', '5432', '', '', '', 'ready'];
      assert.equal((await judgePostmasterPid(pgdata, pidFile(await postmasterPid(source)))).kind, 'stale', 'the source’s postmaster runs elsewhere');
      // A zombie: a child that exits after its shell has exec'd a program that never waits for it.
      const zombieMaker = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
      try {
        const zombie = Number((await new Promise<Buffer>((resolve) => zombieMaker.stdout.once('data', resolve))).toString().trim());
        for (let i = 0; i < 100 && !(await readFileLines(`/proc/${zombie}/stat`))?.[0]?.includes(') Z'); i++) await delay(50);
        assert.match((await readFileLines(`/proc/${zombie}/stat`))?.[0] ?? '', /\) Z/, 'the child is a zombie');
        const verdict = await judgePostmasterPid(pgdata, pidFile(zombie));
        assert.deepEqual(verdict, { kind: 'stale', why: `process ${zombie} has exited (a zombie)` });
      } finally {
        zombieMaker.kill('SIGKILL');
      }
      const gone = spawn('true');
      await new Promise((resolve) => gone.on('exit', resolve));
      assert.equal((await judgePostmasterPid(pgdata, pidFile(gone.pid!))).kind, 'stale');
      const live = await readFileLines(join(source.dataDir, 'postmaster.pid'));
      assert.equal((await judgePostmasterPid(source.dataDir, live!)).kind, 'live', 'the source’s own directory is in use');
      const refused = await cli(['restore', '--id', y.id, '--store', storeDir, '--pgdata', source.dataDir, '--wal-archive', source.archiveDir]);
      assert.equal(refused.json.error.code, 'DATA_DIR_IN_USE', explain(refused));
      assert.doesNotMatch(refused.json.error.message, /Stop that server/);
      assert.match(refused.json.error.message, /restore the copy into another directory/);
    });

    test('an archive without the backup’s WAL: exit 5 WAL_INCOMPLETE naming the first missing file, nothing changed, nothing moved; --no-verify skips the check', async () => {
      const pgdata = await copyOf('y-deref.tar');
      const target = await emptyDirectory(work, 'ts-wal');
      const emptyArchive = join(work, 'empty-archive');
      await mkdir(emptyArchive, { recursive: true });
      const args = ['restore', '--id', y.id, '--store', storeDir, '--pgdata', pgdata, '--tablespace-mapping', `${tsOld}=${target}`, '--wal-archive', emptyArchive];
      const before = await snapshot(pgdata, target);
      const refused = await cli(args);
      assert.equal(refused.code, 5, explain(refused));
      assert.equal(refused.json.error.code, 'WAL_INCOMPLETE');
      assert.equal(refused.json.error.details.missing[0], y.startWalFile);
      assert.match(refused.json.error.message, new RegExp(y.startWalFile));
      assert.deepEqual(await snapshot(pgdata, target), before, 'nothing changed or moved');
      const text = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args, '--no-verify'], { cwd: ROOT });
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /not checked: pg-split-backup verify/);
      const checked = await cli(['restore', '--id', y.id, '--store', storeDir, '--pgdata', pgdata, '--tablespace-mapping', `${tsOld}=${target}`, '--wal-archive', source.archiveDir]);
      assert.equal(checked.code, 0, explain(checked));
      assert.equal(checked.json.walCheck.complete, true);
    });
  });
}

async function readFileLines(path: string): Promise<string[] | undefined> {
  return (await readFile(path, 'utf8').catch(() => undefined))?.split('\n');
}
