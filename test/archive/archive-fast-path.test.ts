// The shell parts of the lines archive-config prints: archive-push --async answers from the
// pusher's hard-link marker without starting Node, and only for the very file stored; archive-get
// with prefetch from the queue and from a miss marker that has not expired. Run with dash
// and with bash, after PostgreSQL's %-substitution; the words the line hands on (archive URL, key
// file, spool dir with spaces, quotes, backslashes and %) reach the program exactly. Then a real
// server's configuration parser reads the printed line and archives through it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, link, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { archiveGet, archiveGetCommand, archivePushCommand, Keyring, quoteConfValue, quoteForShell } from '../../src/index.js';
import { chownToServerUser, smokeMajor, TestCluster } from '../harness/index.js';
import { run, type CommandResult } from '../harness/os-user.js';
import { PGSB_PROGRAM } from '../harness/wal-archive.js';

const explain = (r: CommandResult): string => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const SEGMENT = '000000010000000000000007';
/** A name with every character the quoting has to get right. */
const AWKWARD = `it's a "dir" with \\ back%slash and %f`;

/** PostgreSQL's substitution in archive_command: %p, %f, %% (shell_archive.c / BuildRestoreCommand). */
function substitute(line: string, path: string, file: string): string {
  return line.replace(/%([pf%])/g, (_, c: string) => (c === 'p' ? path : c === 'f' ? file : '%'));
}

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgsb-fast-path-'));
  await chmod(work, 0o755);
});
after(() => rm(work, { recursive: true, force: true }));

for (const shell of ['dash', 'bash']) {
  describe(`archive-push --async's shell fast path under ${shell}`, () => {
    let pgdata: string;
    let argvLog: string;
    let program: string;
    const spool = (): string => join(pgdata, 'pg_wal', 'pgsb-archive-push');
    const runLine = (line: string): Promise<CommandResult> => run(shell, ['-c', substitute(line, `pg_wal/${SEGMENT}`, SEGMENT)], { cwd: pgdata });
    const calls = async (): Promise<string[][]> => (existsSync(argvLog) ? (await readFile(argvLog, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as string[]) : []);
    before(async () => {
      pgdata = await mkdtemp(join(work, `${shell}-`));
      await mkdir(join(pgdata, 'pg_wal', 'pgsb-archive-push'), { recursive: true });
      await writeFile(join(pgdata, 'pg_wal', SEGMENT), 'segment bytes');
      argvLog = join(pgdata, 'argv.log');
      // Stands in for the CLI: records the words it got, fails (as a push that did not happen would).
      const stub = join(pgdata, 'stub.mjs');
      await writeFile(stub, `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(argvLog)}, JSON.stringify(process.argv.slice(2)) + '\\n');\nprocess.exit(7);\n`);
      program = `${quoteForShell(process.execPath)} ${quoteForShell(stub)}`;
    });

    test('no marker: the command runs; a marker linked to this file: exit 0 without it; a copy or another file linked: the command runs', async () => {
      const line = archivePushCommand('/wal', { program, async: true });
      assert.match(line, /^\[ pg_wal\/pgsb-archive-push\/%f\.stored -ef "%p" \] \|\| /);
      await rm(argvLog, { force: true });
      let r = await runLine(line);
      assert.equal(r.code, 7, explain(r));
      assert.equal((await calls()).length, 1);
      await link(join(pgdata, 'pg_wal', SEGMENT), join(spool(), `${SEGMENT}.stored`));
      r = await runLine(line);
      assert.equal(r.code, 0, explain(r));
      assert.equal((await calls()).length, 1, 'no process started on a fast-path hit');
      // Same bytes, another inode (a stale marker of an earlier file of that name): not trusted.
      await rm(join(spool(), `${SEGMENT}.stored`));
      await copyFile(join(pgdata, 'pg_wal', SEGMENT), join(spool(), `${SEGMENT}.stored`));
      r = await runLine(line);
      assert.equal(r.code, 7, explain(r));
      await rm(join(spool(), `${SEGMENT}.stored`));
      await writeFile(join(pgdata, 'pg_wal', '000000010000000000000006'), 'other');
      await link(join(pgdata, 'pg_wal', '000000010000000000000006'), join(spool(), `${SEGMENT}.stored`));
      r = await runLine(line);
      assert.equal(r.code, 7, explain(r));
      assert.equal((await calls()).length, 3);
      await rm(join(spool(), `${SEGMENT}.stored`));
    });

    test('while a pusher runs (its lock is there) the shell waits up to a second for the marker; without one it does not wait', async () => {
      const line = archivePushCommand('/wal', { program, async: true });
      await rm(argvLog, { force: true });
      await writeFile(join(spool(), 'pusher.lock'), '{}');
      try {
        // The marker appears 300 ms after the call, as a running pusher's store would make it.
        const later = run(shell, ['-c', `sleep 0.3; ln ${quoteForShell(join(pgdata, 'pg_wal', SEGMENT))} ${quoteForShell(join(spool(), `${SEGMENT}.stored`))}`]);
        const r = await runLine(line);
        await later;
        assert.equal(r.code, 0, explain(r));
        assert.equal((await calls()).length, 0, 'answered by the shell once the marker came');
        await rm(join(spool(), `${SEGMENT}.stored`));
        // A pusher that never stores it: after the wait, the command runs.
        const began = Date.now();
        const slow = await runLine(line);
        assert.equal(slow.code, 7, explain(slow));
        assert.ok(Date.now() - began >= 900, 'it waited');
      } finally {
        await rm(join(spool(), 'pusher.lock'), { force: true });
      }
      await rm(argvLog, { force: true });
      const none = await runLine(line);
      assert.equal(none.code, 7, explain(none));
      assert.equal((await calls()).length, 1);
    });

    test('awkward archive, key file and spool paths reach the command word for word, and the fast path finds the spool', async () => {
      const archive = join(work, AWKWARD, 'wal');
      const keyFile = join(work, AWKWARD, 'key');
      const spoolDirectory = `pg_wal/spool ${AWKWARD}`;
      await mkdir(join(pgdata, spoolDirectory), { recursive: true });
      const line = archivePushCommand(archive, { program, async: true, compress: 'gzip', spoolDirectory, encryptionKeyFiles: [keyFile] });
      await rm(argvLog, { force: true });
      const r = await runLine(line);
      assert.equal(r.code, 7, explain(r));
      assert.deepEqual((await calls())[0], ['archive-push', `pg_wal/${SEGMENT}`, '--archive', archive, '--encryption-key-file', keyFile, '--compress', 'gzip', '--async', '--spool-dir', spoolDirectory]);
      await link(join(pgdata, 'pg_wal', SEGMENT), join(pgdata, spoolDirectory, `${SEGMENT}.stored`));
      const hit = await runLine(line);
      assert.equal(hit.code, 0, explain(hit));
      assert.equal((await calls()).length, 1);
    });

    test("archive-get's line: a queued file is moved; a miss marker answers exit 1 without the command until its mtime; expired, absent or beside a queued file it does not", async () => {
      const line = archiveGetCommand('/wal', { program, prefetch: 2 });
      const queue = join(pgdata, 'pg_wal', 'pgsb-prefetch');
      const target = join(pgdata, 'pg_wal', 'RECOVERYXLOG');
      await mkdir(queue, { recursive: true });
      const restore = (): Promise<CommandResult> => run(shell, ['-c', substitute(line, 'pg_wal/RECOVERYXLOG', SEGMENT)], { cwd: pgdata });
      /** A marker valid until `offsetMs` from now (negative: expired). */
      const mark = async (offsetMs: number): Promise<void> => {
        const marker = join(queue, `${SEGMENT}.missing`);
        await writeFile(marker, '');
        const until = (Date.now() + offsetMs) / 1000;
        await utimes(marker, until, until);
      };
      await rm(argvLog, { force: true });
      let r = await restore();
      assert.equal(r.code, 7, `no marker: the command runs\n${explain(r)}`);
      await mark(5000);
      r = await restore();
      assert.equal(r.code, 1, `a valid marker: "no such file"\n${explain(r)}`);
      assert.equal((await calls()).length, 1, 'answered by the shell');
      await mark(-50);
      r = await restore();
      assert.equal(r.code, 7, `an expired marker (a prefetcher gone): the command runs\n${explain(r)}`);
      await mark(5000);
      await writeFile(join(queue, SEGMENT), 'queued segment');
      r = await restore();
      assert.equal(r.code, 0, `queued and marked: the queued file wins\n${explain(r)}`);
      assert.equal(await readFile(target, 'utf8'), 'queued segment');
      assert.equal((await calls()).length, 2);
      assert.deepEqual((await readdir(queue)).sort(), [`${SEGMENT}.missing`], "the shell's own clock files are gone");
      await rm(queue, { recursive: true });
      r = await restore();
      assert.equal(r.code, 7, `no queue directory: the command runs\n${explain(r)}`);
    });

    test("archive-get's line: while a valid .fetching marker is there the shell waits for the prefetcher's outcome (the file, or a miss marker); gone without one, or expired, the command runs", async () => {
      const line = archiveGetCommand('/wal', { program, prefetch: 2 });
      const queue = join(pgdata, 'pg_wal', 'pgsb-prefetch');
      const target = join(pgdata, 'pg_wal', 'RECOVERYXLOG');
      await rm(queue, { recursive: true, force: true });
      await mkdir(queue, { recursive: true });
      const restore = (): Promise<CommandResult> => run(shell, ['-c', substitute(line, 'pg_wal/RECOVERYXLOG', SEGMENT)], { cwd: pgdata });
      const markAt = async (suffix: string, offsetMs: number): Promise<void> => {
        const marker = join(queue, SEGMENT + suffix);
        await writeFile(marker, '');
        const until = (Date.now() + offsetMs) / 1000;
        await utimes(marker, until, until);
      };
      /** After `ms`, does what the prefetcher does when its look ends: the outcome in place, then the marker away. */
      const later = (ms: number, outcome: () => Promise<void>): Promise<void> => delay(ms).then(outcome).then(() => rm(join(queue, SEGMENT + '.fetching')));
      await rm(argvLog, { force: true });
      await markAt('.fetching', 5000);
      let [r] = await Promise.all([restore(), later(300, () => writeFile(join(queue, SEGMENT), 'fetched segment'))]);
      assert.equal(r.code, 0, `the download landed while the shell waited: moved\n${explain(r)}`);
      assert.equal(await readFile(target, 'utf8'), 'fetched segment');
      await markAt('.fetching', 5000);
      [r] = await Promise.all([restore(), later(300, () => markAt('.missing', 2000))]);
      assert.equal(r.code, 1, `the look found nothing while the shell waited: "no such file"\n${explain(r)}`);
      assert.equal((await calls()).length, 0, 'both answered by the shell');
      await rm(join(queue, SEGMENT + '.missing'));
      await markAt('.fetching', 5000);
      [r] = await Promise.all([restore(), later(300, async () => undefined)]);
      assert.equal(r.code, 7, `the look failed (marker gone, no outcome): the command runs\n${explain(r)}`);
      await markAt('.fetching', -50);
      r = await restore();
      assert.equal(r.code, 7, `an expired marker (a prefetcher gone): the command runs\n${explain(r)}`);
      assert.equal((await calls()).length, 2);
      assert.deepEqual((await readdir(queue)).sort(), [`${SEGMENT}.fetching`], "the shell's own clock files are gone");
    });
  });
}

test('archive-push --async --idle D: the pusher it starts stays D after its last segment, then exits; the printed line carries it', async () => {
  const pgdata = await mkdtemp(join(work, 'idle-'));
  const wal = join(pgdata, 'archive');
  await mkdir(join(pgdata, 'pg_wal', 'archive_status'), { recursive: true });
  await mkdir(wal);
  await writeFile(join(pgdata, 'pg_wal', SEGMENT), Buffer.alloc(1024 * 1024, 3));
  await writeFile(join(pgdata, 'pg_wal', 'archive_status', `${SEGMENT}.ready`), '');
  const line = archivePushCommand(wal, { program: PGSB_PROGRAM, async: true, pusherIdleMs: 6000 });
  assert.match(line, / --async --idle 6000ms$/);
  const r = await run('sh', ['-c', substitute(line, `pg_wal/${SEGMENT}`, SEGMENT)], { cwd: pgdata });
  assert.equal(r.code, 0, explain(r));
  const lock = join(pgdata, 'pg_wal', 'pgsb-archive-push', 'pusher.lock');
  const alive = async (): Promise<boolean> => {
    const pid = existsSync(lock) ? (JSON.parse(await readFile(lock, 'utf8')) as { pid: number }).pid : undefined;
    try {
      return pid !== undefined && process.kill(pid, 0);
    } catch {
      return false;
    }
  };
  await delay(3000); // past the default 2 s
  assert.ok(await alive(), 'still there 3 s after its only segment');
  for (let i = 0; i < 300 && (await alive()); i++) await delay(100);
  assert.equal(await alive(), false, 'gone once idle for 6 s');
  assert.deepEqual((await readdir(wal)).filter((n) => n === SEGMENT), [SEGMENT]);
});

describe('the printed lines through a real server configuration parser', () => {
  const MAJOR = smokeMajor();
  test(`PostgreSQL ${MAJOR}: archive-config's archive_command with awkward paths and a key file archives every segment encrypted; most are answered by the shell`, async () => {
    const base = join(work, 'server', AWKWARD);
    await mkdir(base, { recursive: true });
    await chmod(join(work, 'server'), 0o755);
    await chmod(base, 0o755);
    const wal = join(base, 'wal');
    await mkdir(wal);
    const key = Buffer.alloc(32, 9);
    const keyFile = join(base, 'wal key');
    await writeFile(keyFile, `${key.toString('base64')}\n`, { mode: 0o600 });
    const invocations = join(base, 'invocations.log');
    await writeFile(invocations, '');
    await chownToServerUser(join(work, 'server'));
    // The CLI behind a wrapper that counts its starts (a fast-path hit starts nothing).
    const wrapper = join(base, 'count.sh');
    await writeFile(wrapper, `#!/bin/sh\necho x >> ${quoteForShell(invocations)}\nexec ${PGSB_PROGRAM} "$@"\n`, { mode: 0o755 });
    await chownToServerUser(wrapper);
    const printed = execFileSync(process.execPath, ['--import', 'tsx', join(process.cwd(), 'src', 'cli', 'main.ts'), 'archive-config', '--archive', wal, '--async', '--encryption-key-file', keyFile, '--program', `sh ${quoteForShell(wrapper)}`], { encoding: 'utf8' });
    const archiveLine = /^archive_command = (.*)$/m.exec(printed)![1]!;
    const cluster = await TestCluster.start({ major: MAJOR, name: 'fast-path', walSegmentSizeMb: MAJOR >= 11 ? 1 : undefined, settings: { archive_command: archiveLine, archive_timeout: '0' } });
    try {
      const [shown] = await cluster.query<{ archive_command: string }>('SHOW archive_command');
      const expected = archivePushCommand(wal, { program: `sh ${quoteForShell(wrapper)}`, async: true, encryptionKeyFiles: [keyFile] });
      assert.equal(shown!.archive_command, expected, 'the parser read back exactly the line');
      assert.equal(quoteConfValue(expected), archiveLine);
      assert.equal((await cluster.client('pgbench', ['-i', '-q', '-s', '2', 'postgres'])).code, 0);
      for (let i = 0; i < 3; i++) await cluster.query('SELECT pg_switch_wal()');
      let stats = { archived: 0, failed: 0, ready: 1 };
      for (let i = 0; i < 300 && (stats.ready > 0 || stats.archived < 5); i++) {
        await delay(100);
        const [row] = await cluster.query<{ archived: number; failed: number }>('SELECT archived_count::int AS archived, failed_count::int AS failed FROM pg_stat_archiver');
        stats = { ...row!, ready: (await readdir(join(cluster.dataDir, 'pg_wal', 'archive_status'))).filter((n) => n.endsWith('.ready')).length };
      }
      assert.equal(stats.failed, 0);
      assert.ok(stats.archived >= 5, JSON.stringify(stats));
      const starts = (await readFile(invocations, 'utf8')).trim().split('\n').filter(Boolean).length;
      assert.ok(starts < stats.archived, `${starts} CLI starts for ${stats.archived} archived segments: the shell answered none`);
      const stored = (await readdir(wal)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
      assert.ok(stored.length >= stats.archived - 1, stored.join(' '));
      const got = await archiveGet(stored[0]!, join(base, 'back'), { archive: wal, encryption: { keyring: Keyring.fromKeys([key]) } });
      assert.equal(got.bytes, 1024 * 1024);
    } finally {
      await cluster.destroy();
    }
  });
});
