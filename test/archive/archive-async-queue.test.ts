// info --data-directory: the archive-push --async pusher's queue as Prometheus metrics, read from a
// real spool that real pushers fill. No server: a data directory from initdb (its pg_control gives
// the label), segments and .ready files written as PostgreSQL writes them, and a segment archived
// the way PostgreSQL marks it (.ready renamed .done after archive_command exits 0).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { infoMetrics, quoteForShell, readArchivePushQueue, type ArchivePushQueue } from '../../src/index.js';
import { binDirFor, run, runOk, serverUser, type CommandResult } from '../harness/index.js';
import { PGSB_PROGRAM } from '../harness/wal-archive.js';
import { parseExposition, type Sample } from '../lifecycle/exposition.js';

const explain = (r: CommandResult): string => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const seg = (n: number): string => `00000001000000000000${n.toString(16).toUpperCase().padStart(4, '0')}`;
/** The .ready files' mtimes: segment n became ready at T0 + n minutes (whole seconds, so ages are exact). */
const T0 = Math.floor(Date.now() / 1000) - 3600;
const readyAt = (n: number): number => T0 + (n - 0x10) * 60;
const EMPTY_REPORT = { store: 'x', clusters: [], unreadable: [] };

let work: string;
let pgdata: string;
let walDir: string;
let storeDir: string;
let spool: string;
let sysid: string;

async function makeReady(n: number): Promise<void> {
  await writeFile(join(pgdata, 'pg_wal', seg(n)), `segment ${n}\n`);
  const ready = join(pgdata, 'pg_wal', 'archive_status', `${seg(n)}.ready`);
  await writeFile(ready, '');
  await utimes(ready, readyAt(n), readyAt(n));
}

async function lockPid(): Promise<number | undefined> {
  try {
    return (JSON.parse(await readFile(join(spool, 'pusher.lock'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await delay(50);
  }
}

function cli(args: string[], options: { asServer?: boolean } = {}): Promise<CommandResult> {
  return run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: pgdata, ...options });
}

const info = (more: string[] = [], options: { asServer?: boolean } = {}): Promise<CommandResult> => cli(['info', '--store', storeDir, '--format', 'prometheus', '--data-directory', pgdata, ...more], options);

/** The one sample of `name`, which must carry the cluster's label (and `extra` labels after it). */
function one(families: Map<string, Sample[]>, name: string, extra = ''): number {
  const samples = families.get(name);
  assert.equal(samples?.length, 1, `${name}: ${JSON.stringify(samples)}`);
  assert.equal(samples![0]!.labels, `{system_identifier="${sysid}"${extra}}`, name);
  return samples![0]!.value;
}

/** The queue's counts as the exposition gives them. */
function counts(families: Map<string, Sample[]>): Record<string, number> {
  return {
    ready: one(families, 'pgsb_archive_push_ready_segments'),
    storedAhead: one(families, 'pgsb_archive_push_stored_ahead_segments'),
    queue: one(families, 'pgsb_archive_push_queue_segments'),
    failed: one(families, 'pgsb_archive_push_failed_segments'),
    running: one(families, 'pgsb_archive_push_pusher_running'),
  };
}

/** What infoMetrics makes of the queue now, at a fixed `now` so the age is exact. */
async function inProcess(nowSeconds: number): Promise<{ queue: ArchivePushQueue; families: Map<string, Sample[]> }> {
  const queue = await readArchivePushQueue(pgdata);
  return { queue, families: parseExposition(infoMetrics(EMPTY_REPORT, { now: new Date(nowSeconds * 1000), archivePush: queue })) };
}

async function viaCli(more: string[] = []): Promise<Map<string, Sample[]>> {
  const r = await info(more);
  assert.equal(r.code, 0, explain(r));
  const families = parseExposition(r.stdout);
  assert.deepEqual(families.get('pgsb_up'), [{ labels: '', value: 1 }], explain(r));
  return families;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgsb-push-queue-'));
  await chmod(work, 0o755);
  const parent = join(work, 'pg');
  await mkdir(parent, { mode: 0o755 });
  const user = serverUser();
  if (user) execFileSync('chown', [`${user.uid}:${user.gid}`, parent]);
  pgdata = join(parent, 'data');
  await runOk(join(binDirFor(15), 'initdb'), ['-D', pgdata, '-A', 'trust', '-U', 'postgres', '--no-sync'], { asServer: true });
  sysid = /^Database system identifier:\s+(\d+)$/m.exec((await runOk(join(binDirFor(15), 'pg_controldata'), [pgdata])).stdout)![1]!;
  walDir = join(work, 'wal');
  storeDir = join(work, 'store');
  await mkdir(walDir);
  await mkdir(storeDir, { mode: 0o755 });
  spool = join(pgdata, 'pg_wal', 'pgsb-archive-push');
});

after(async () => {
  const pid = await lockPid();
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await rm(work, { recursive: true, force: true });
});

describe('info --data-directory: the archive-push --async queue', () => {
  test('no pusher ran yet (no spool): every ready file is queued, pusher_running 0, the oldest one\'s age', async () => {
    await makeReady(0x10);
    await makeReady(0x11);
    const { queue, families } = await inProcess(readyAt(0x10) + 90);
    assert.equal(queue.systemIdentifier, sysid);
    assert.deepEqual(counts(families), { ready: 2, storedAhead: 0, queue: 2, failed: 0, running: 0 });
    assert.equal(queue.oldestPendingWal, seg(0x10));
    assert.equal(one(families, 'pgsb_archive_push_oldest_pending_age_seconds'), 90);
    assert.ok(!existsSync(spool), 'reading made no spool');
  });

  test('a running pusher held at maxQueue 1: 3 ready, 1 stored ahead, queue 2, running 1; PostgreSQL archives one and the queue moves on; a killed pusher\'s lock is not a running pusher', async () => {
    await makeReady(0x12);
    // archivePushAsync in a process of its own (the pusher it starts takes its execArgv, and must
    // find tsx from the data directory: the loader is named by URL, the call is a script file): a pusher that holds one file ahead at most and
    // stays for ten minutes, so what follows never races its idle exit.
    const call = `import { archivePushAsync } from ${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)};
      const r = await archivePushAsync(${JSON.stringify(`pg_wal/${seg(0x10)}`)}, { archive: ${JSON.stringify(walDir)}, maxQueue: 1, idleMs: 600000 });
      console.log(r.walFile);`;
    const script = join(work, 'push.mts');
    await writeFile(script, call);
    const pushed = await run(process.execPath, ['--import', new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href, script], { cwd: pgdata });
    assert.equal(pushed.code, 0, explain(pushed));
    assert.equal(pushed.stdout.trim(), seg(0x10));
    const pid = await lockPid();
    assert.ok(pid !== undefined, 'the pusher holds its lock');
    const { queue, families } = await inProcess(readyAt(0x10) + 600);
    assert.deepEqual(counts(families), { ready: 3, storedAhead: 1, queue: 2, failed: 0, running: 1 });
    assert.equal(queue.oldestPendingWal, seg(0x11), 'the stored one is not pending');
    assert.equal(one(families, 'pgsb_archive_push_oldest_pending_age_seconds'), 600 - 60);
    assert.equal(families.get('pgsb_archive_push_last_failure_info'), undefined, 'no failure, no failure series');
    // The same through the CLI, with the spool named explicitly (relative to the data directory).
    assert.deepEqual(counts(await viaCli(['--spool-dir', 'pg_wal/pgsb-archive-push'])), { ready: 3, storedAhead: 1, queue: 2, failed: 0, running: 1 });

    // archive_command returned 0 for 0x10: PostgreSQL marks it done; the pusher drops its
    // acknowledgement and, with room in its queue again, stores 0x11 ahead.
    await rename(join(pgdata, 'pg_wal', 'archive_status', `${seg(0x10)}.ready`), join(pgdata, 'pg_wal', 'archive_status', `${seg(0x10)}.done`));
    await until('the pusher to store 0x11 ahead', async () => (await readArchivePushQueue(pgdata)).oldestPendingWal === seg(0x12));
    const moved = await inProcess(readyAt(0x10) + 600);
    assert.deepEqual(counts(moved.families), { ready: 2, storedAhead: 1, queue: 1, failed: 0, running: 1 });
    assert.equal(one(moved.families, 'pgsb_archive_push_oldest_pending_age_seconds'), 600 - 120);

    process.kill(pid!, 'SIGKILL');
    await until('the killed pusher to be gone', async () => !(await readArchivePushQueue(pgdata)).pusherRunning);
    assert.equal(await lockPid(), pid, 'its lock is left behind, naming a dead process');
    assert.deepEqual(counts(await viaCli()), { ready: 2, storedAhead: 1, queue: 1, failed: 0, running: 0 });
  });

  test('a push that failed ahead of being asked (WAL_CONFLICT) is counted with its code and time until it is pushed again', async () => {
    await makeReady(0x13);
    // Another server's file under that name: the pusher must refuse it.
    await writeFile(join(walDir, seg(0x13)), 'another cluster\'s segment\n');
    const began = Date.now() / 1000;
    const r = await cli(['archive-push', `pg_wal/${seg(0x12)}`, '--archive', walDir, '--async', '--json']);
    assert.equal(r.code, 0, explain(r));
    await until('the failed pusher to exit', async () => (await lockPid()) === undefined);
    const families = await viaCli();
    assert.deepEqual(counts(families), { ready: 3, storedAhead: 2, queue: 1, failed: 1, running: 0 });
    assert.equal(one(families, 'pgsb_archive_push_last_failure_info', ',code="WAL_CONFLICT"'), 1);
    const at = one(families, 'pgsb_archive_push_last_failure_timestamp_seconds');
    assert.ok(at >= Math.floor(began) && at <= Date.now() / 1000, `failure at ${at}, push began ${began}`);
    const exact = await inProcess(readyAt(0x10) + 600);
    assert.equal(exact.queue.lastFailedWal, seg(0x13));
    assert.equal(exact.queue.oldestPendingWal, seg(0x13));
    assert.equal(one(exact.families, 'pgsb_archive_push_oldest_pending_age_seconds'), 600 - 180);
  });

  test('once the failure is resolved the pusher stores it and idles out: queue 0, no failure, age 0, pusher_running 0; another --spool-dir is another (empty) spool', async () => {
    await rm(join(walDir, seg(0x13)));
    const r = await cli(['archive-push', `pg_wal/${seg(0x13)}`, '--archive', walDir, '--async', '--json']);
    assert.equal(r.code, 0, explain(r));
    await until('the pusher to idle out and remove its lock', async () => (await lockPid()) === undefined);
    const families = await viaCli();
    assert.deepEqual(counts(families), { ready: 3, storedAhead: 3, queue: 0, failed: 0, running: 0 });
    assert.equal(one(families, 'pgsb_archive_push_oldest_pending_age_seconds'), 0);
    assert.equal(families.get('pgsb_archive_push_last_failure_timestamp_seconds'), undefined);
    const elsewhere = await viaCli(['--spool-dir', join(work, 'no-spool-here')]);
    assert.deepEqual(counts(elsewhere), { ready: 3, storedAhead: 0, queue: 3, failed: 0, running: 0 });
  });

  test('--timeout covers reading the spool: an acknowledgement that never reads (a FIFO, as a hung mount) gives pgsb_up 0, ABORTED at the deadline; exit 0 once the read returns', async () => {
    await makeReady(0x14);
    const fifo = join(spool, `${seg(0x14)}.ok`);
    execFileSync('mkfifo', [fifo]);
    try {
      const child = spawn('sh', ['-c', [PGSB_PROGRAM, ...['info', '--store', storeDir, '--format', 'prometheus', '--data-directory', pgdata, '--timeout', '2s'].map(quoteForShell)].join(' ')], { cwd: pgdata, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await until('pgsb_up 0 while the read still hangs', async () => stdout.includes('pgsb_error_info'), 120_000);
      // A process cannot exit while the kernel holds one of its reads: the FIFO gets a writer,
      // as a hung mount would come back.
      await (await open(fifo, 'w')).close();
      assert.equal(await exited, 0, stdout);
      const families = parseExposition(stdout);
      assert.deepEqual(families.get('pgsb_up'), [{ labels: '', value: 0 }]);
      assert.deepEqual(families.get('pgsb_error_info'), [{ labels: '{code="ABORTED"}', value: 1 }]);
      assert.equal(families.get('pgsb_archive_push_queue_segments'), undefined);
    } finally {
      await rm(fifo);
      await rm(join(pgdata, 'pg_wal', 'archive_status', `${seg(0x14)}.ready`));
    }
  });

  test('a spool the user running info cannot read: pgsb_up 0 with ARCHIVE_QUEUE_UNREADABLE, exit 0 (the textfile is replaced)', { skip: serverUser() === undefined ? 'needs root, to run info as another user' : false }, async () => {
    // The pushers above ran as root: their spool (mode 0700) is closed to the server's user.
    const r = await info([], { asServer: true });
    assert.equal(r.code, 0, explain(r));
    const families = parseExposition(r.stdout);
    assert.deepEqual(families.get('pgsb_up'), [{ labels: '', value: 0 }], explain(r));
    assert.deepEqual(families.get('pgsb_error_info'), [{ labels: '{code="ARCHIVE_QUEUE_UNREADABLE"}', value: 1 }]);
  });
});
