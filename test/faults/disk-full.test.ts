// Fault 7 of issue #5: the disk fills up while the summary is spooled (and written to a sink on the
// same disk). Whatever fails, nothing partial may ever read back as a summary, and a summary that
// no place could hold is handed to the caller in the error itself.
//
// The full disk is a real one: a 1 MiB tmpfs filled to its last page. Where mounting is not allowed
// (no CAP_SYS_ADMIN), ENOSPC is injected into file writes instead, at the same point: the first
// file of a summary fits, the next one does not.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { BackupSession, FilesystemSummaryStore, isBackupError } from '../../src/index.js';
import { TestCluster, testMajors } from '../harness/index.js';

const MAJOR = testMajors().includes(15) ? 15 : Math.max(...testMajors());
const FILLER = 'filler';

/** A directory on a full disk: one page left, so a summary's first file fits and the next does not. */
interface FullDisk {
  readonly dir: string;
  readonly how: 'tmpfs' | 'injected';
}

/**
 * @param injected without a tmpfs: which FileHandle.writeFile calls (counted from 1) fail; on the
 * tmpfs, every second file of a summary fails by itself (the first takes the last page, a failed
 * write's temp directory is removed and gives it back).
 */
async function fullDisk(t: TestContext, base: string, injected: (call: number) => boolean): Promise<FullDisk> {
  const dir = await mkdtemp(join(base, 'full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    await injectEnospc(t, injected);
    return { dir, how: 'injected' };
  }
  t.after(() => execFileSync('umount', [dir]));
  await writeFile(join(dir, FILLER), Buffer.alloc(2 * 1024 * 1024)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOSPC') throw error;
  });
  const { size } = await stat(join(dir, FILLER));
  await truncate(join(dir, FILLER), size - 4096);
  return { dir, how: 'tmpfs' };
}

/** Makes the chosen FileHandle.writeFile calls fail with ENOSPC until the test ends. */
async function injectEnospc(t: TestContext, fails: (call: number) => boolean): Promise<void> {
  const probe = await open('/dev/null', 'r');
  const proto = Object.getPrototypeOf(probe) as { writeFile: (...args: unknown[]) => Promise<void> };
  await probe.close();
  const original = proto.writeFile;
  let calls = 0;
  proto.writeFile = function (this: unknown, ...args: unknown[]) {
    if (fails(++calls)) {
      return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' }));
    }
    return original.apply(this, args);
  };
  t.after(() => {
    proto.writeFile = original;
  });
}

describe(`fault 7: disk full while spooling, on PostgreSQL ${MAJOR}`, () => {
  let cluster: TestCluster;
  let base: string;
  before(async () => {
    cluster = await TestCluster.start({ major: MAJOR });
    base = await mkdtemp(join(tmpdir(), 'pgsb-diskfull-'));
  });
  after(async () => {
    await cluster?.destroy();
    await rm(base, { recursive: true, force: true });
  });

  async function leftovers(dir: string): Promise<string[]> {
    return (await readdir(dir).catch(() => [] as string[])).filter((name) => name !== FILLER && name !== 'lost+found');
  }

  test('the spool is full, the sink is not: stop() succeeds from memory, warns, and the spool holds nothing partial', async (t) => {
    // Injected: the spool's second file fails; the sink's writes go through.
    const disk = await fullDisk(t, base, (call) => call === 2);
    t.diagnostic(`ENOSPC from: ${disk.how}`);
    const spool = join(disk.dir, 'spool');
    await mkdir(spool);
    const sinkDir = join(base, 'sink-a');
    const id = 'diskfull-spool';
    const session = new BackupSession({ id, connection: cluster.connectionString, sinks: [new FilesystemSummaryStore({ directory: sinkDir })], spoolDirectory: spool, sinkRetries: 1, fast: true });
    const warnings: string[] = [];
    session.on('warning', ({ message }) => warnings.push(message));
    await session.start();
    const { summary } = await session.stop();
    assert.ok(warnings.some((w) => /Could not persist the summary to the spool/.test(w) && /ENOSPC/.test(w)), warnings.join('\n'));
    assert.deepEqual(await new FilesystemSummaryStore({ directory: sinkDir }).get(id), summary);
    assert.deepEqual(await leftovers(spool), []);
    assert.deepEqual(await new FilesystemSummaryStore({ directory: spool }).list(), []);
  });

  test('spool and sink on the same full disk: SINK_FAILED carries backup_label itself, and neither place reads back a summary', async (t) => {
    // Injected: every summary's second file fails, in the spool and in the sink, attempt after attempt.
    const disk = await fullDisk(t, base, (call) => call % 2 === 0);
    t.diagnostic(`ENOSPC from: ${disk.how}`);
    const spool = join(disk.dir, 'spool');
    const sinkDir = join(disk.dir, 'sink');
    await mkdir(spool);
    await mkdir(sinkDir);
    const id = 'diskfull-both';
    const session = new BackupSession({ id, connection: cluster.connectionString, sinks: [new FilesystemSummaryStore({ directory: sinkDir })], spoolDirectory: spool, sinkRetries: 1, fast: true });
    await session.start();
    const error = await session.stop().then(
      () => assert.fail('stop() must reject'),
      (e: unknown) => e,
    );
    assert.ok(isBackupError(error, 'SINK_FAILED'), String(error));
    assert.match(error.message, /the spool could not hold it either/);
    assert.match(error.message, new RegExp(`--- backup_label\\n(.|\\n)*LABEL: ${id}`));
    assert.match(String(error.details.labelFile), new RegExp(`^LABEL: ${id}$`, 'm'));
    assert.match(String(error.details.labelFile), /^START WAL LOCATION: /m);
    assert.equal(error.details.spoolPath, undefined);
    for (const dir of [spool, sinkDir]) {
      const store = new FilesystemSummaryStore({ directory: dir });
      assert.deepEqual(await store.list(), []);
      assert.equal(await store.has(id), false);
      await assert.rejects(store.get(id), (e) => isBackupError(e, 'NOT_FOUND'));
      assert.deepEqual(await leftovers(dir), []);
    }
  });

  test('a write cut short by a crash (a temp directory with some of the files) is never listed or read as a summary', async () => {
    const dir = join(base, 'crashed');
    const id = 'diskfull-crash';
    await mkdir(join(dir, `.tmp-${id}-0123456789ab`), { recursive: true });
    await writeFile(join(dir, `.tmp-${id}-0123456789ab`, 'backup_label'), `LABEL: ${id}\n`);
    const handle = await open(join(dir, `.tmp-${id}-0123456789ab`, 'summary.json'), 'w');
    await handle.write('{"format":1,"id":'); // the disk filled here
    await handle.close();
    const store = new FilesystemSummaryStore({ directory: dir });
    assert.deepEqual(await store.list(), []);
    assert.equal(await store.has(id), false);
    await assert.rejects(store.get(id), (e) => isBackupError(e, 'NOT_FOUND'));
  });
});
