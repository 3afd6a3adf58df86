// archive-push and archive-get without a server: durability, write-once, compression, names, a
// full disk, and the CLI's exit codes as PostgreSQL reads them. Against a directory and a real
// S3-protocol server.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test, type TestContext } from 'node:test';
import { archiveGet, archiveGetCommand, archivePush, BackupError, archivePushCommand, backupInfo, expire, FilesystemSummaryStore, FilesystemWalArchive, isStaleArchiveTemp, quoteForShell, isBackupError, isWalCompressionAvailable, verifyWal } from '../../src/index.js';
import type { BackupSummary, WritableWalArchive } from '../../src/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import { CliSandbox } from '../cli/cli-helpers.js';
import { run, type CommandResult } from '../harness/os-user.js';
import { TestS3Server } from '../harness/s3-server.js';
import { PGSB_PROGRAM, s3ArchiveUrl } from '../harness/wal-archive.js';
import { fillDirectory, segmentNames, writeSummaries } from '../lifecycle/fixtures.js';

const explain = (r: CommandResult): string => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const SEGMENT = '000000010000000000000003';
const SEGMENT_SIZE = 1024 * 1024; // small stand-ins: the code never assumes 16 MiB

async function walFile(dir: string, name: string, fill?: Buffer): Promise<{ path: string; body: Buffer }> {
  const body = fill ?? Buffer.concat([randomBytes(SEGMENT_SIZE / 2), Buffer.alloc(SEGMENT_SIZE / 2)]);
  const path = join(dir, name);
  await writeFile(path, body);
  return { path, body };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isBackupError(error, code as never), `expected ${code}, got ${String((error as Error)?.stack ?? error)}`);
    return true;
  });
}

let work: string;
let s3: TestS3Server;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgsb-archive-'));
  s3 = await TestS3Server.start('wal');
});
after(async () => {
  await s3?.destroy();
  await rm(work, { recursive: true, force: true });
});

const targets: { name: string; open: (prefix: string) => Promise<WritableWalArchive> }[] = [
  {
    name: 'a directory',
    open: async (prefix) => {
      const dir = join(work, 'archives', prefix);
      await mkdir(dir, { recursive: true });
      return new FilesystemWalArchive({ directory: dir });
    },
  },
  { name: 's3rver', open: async (prefix) => new S3WalArchive(s3.storeOptions(prefix)) },
];

for (const target of targets) {
  describe(`archivePush / archiveGet to ${target.name}`, () => {
    test('a pushed segment comes back byte for byte; pushing it again is success with written=false', async () => {
      const archive = await target.open('roundtrip');
      const { path, body } = await walFile(work, SEGMENT);
      const first = await archivePush(path, { archive });
      assert.deepEqual([first.written, first.storedAs, first.bytes], [true, SEGMENT, body.length]);
      const again = await archivePush(path, { archive });
      assert.deepEqual([again.written, again.storedAs], [false, SEGMENT]);
      // Even when the second push asks for gzip: the plain copy is the same content.
      assert.equal((await archivePush(path, { archive, compress: 'gzip' })).written, false);
      const dest = join(work, `got-${target.name.length}`);
      const got = await archiveGet(SEGMENT, dest, { archive });
      assert.equal(got.destination, dest);
      assert.ok((await readFile(dest)).equals(body));
      assert.deepEqual(await archive.listFileNames(), [SEGMENT]);
    });

    test('other content under the same name is WAL_CONFLICT, and the stored file stays as it was', async () => {
      const archive = await target.open('conflict');
      const { path, body } = await walFile(work, SEGMENT);
      await archivePush(path, { archive });
      const other = Buffer.from(body);
      other[100] = other[100]! ^ 0xff;
      await writeFile(path, other);
      await rejectsWith(archivePush(path, { archive }), 'WAL_CONFLICT');
      await rejectsWith(archivePush(path, { archive, compress: 'gzip' }), 'WAL_CONFLICT');
      assert.ok((await archive.readFile(SEGMENT))!.equals(body));
      assert.deepEqual(await archive.listFileNames(), [SEGMENT], 'no .gz copy was added beside it');
    });

    test('gzip stores NAME.gz; archive-get, verify and the write-once check all read it', async () => {
      const archive = await target.open('gzip');
      const { path, body } = await walFile(work, SEGMENT);
      const pushed = await archivePush(path, { archive, compress: 'gzip' });
      assert.equal(pushed.storedAs, `${SEGMENT}.gz`);
      assert.ok(pushed.storedBytes < body.length / 1.5, `compressed to ${pushed.storedBytes}`);
      assert.ok(gunzipSync((await archive.readFile(`${SEGMENT}.gz`))!).equals(body));
      assert.equal((await archivePush(path, { archive })).written, false, 'a plain push finds the .gz copy');
      const changed = Buffer.from(body);
      changed[0] = changed[0]! ^ 1;
      await writeFile(path, changed);
      await rejectsWith(archivePush(path, { archive }), 'WAL_CONFLICT');
      const dest = join(work, 'got-gz');
      await archiveGet(SEGMENT, dest, { archive });
      assert.ok((await readFile(dest)).equals(body));
      const summary = { id: 'x', startWalFile: SEGMENT, stopWalFile: SEGMENT, walSegmentSize: 16 * 1024 * 1024 } as BackupSummary;
      assert.equal((await verifyWal(summary, archive)).complete, true);
    });

    test('.history, .partial and .backup files are archived too; a file that is not WAL is refused', async () => {
      const archive = await target.open('names');
      for (const name of ['00000002.history', `${SEGMENT}.partial`, `${SEGMENT}.00000028.backup`]) {
        const { path, body } = await walFile(work, name, Buffer.from(`${name}\n`));
        assert.equal((await archivePush(path, { archive, compress: 'gzip' })).written, true);
        const dest = join(work, `got-${name}`);
        await archiveGet(name, dest, { archive });
        assert.ok((await readFile(dest)).equals(body));
      }
      const { path } = await walFile(work, 'postgresql.conf', Buffer.from('x'));
      await rejectsWith(archivePush(path, { archive }), 'INVALID_OPTION');
      await rejectsWith(archiveGet('../etc/passwd', join(work, 'x'), { archive }), 'INVALID_OPTION');
    });

    test('a file the archive lacks is WAL_NOT_FOUND and leaves nothing at the destination', async () => {
      const archive = await target.open('missing');
      const dest = join(work, 'never');
      await rejectsWith(archiveGet('00000009.history', dest, { archive }), 'WAL_NOT_FOUND');
      await assert.rejects(stat(dest), { code: 'ENOENT' });
    });
  });
}

test('a damaged .gz in the archive is ARCHIVE_FAILED for archive-get, with no file at the destination', async () => {
  const dir = join(work, 'damaged');
  await mkdir(dir);
  await writeFile(join(dir, `${SEGMENT}.gz`), Buffer.from('not gzip at all'));
  const dest = join(work, 'damaged-dest');
  await rejectsWith(archiveGet(SEGMENT, dest, { archive: dir }), 'ARCHIVE_FAILED');
  await assert.rejects(stat(dest), { code: 'ENOENT' });
});

test('zstd: available only where node:zlib has it, refused with a clear INVALID_OPTION otherwise', async () => {
  const { path, body } = await walFile(work, SEGMENT);
  const dir = join(work, 'zstd');
  await mkdir(dir);
  if (isWalCompressionAvailable('zstd')) {
    assert.equal((await archivePush(path, { archive: dir, compress: 'zstd' })).storedAs, `${SEGMENT}.zst`);
    await archiveGet(SEGMENT, join(work, 'zst-dest'), { archive: dir });
    assert.ok((await readFile(join(work, 'zst-dest'))).equals(body));
  } else {
    await assert.rejects(archivePush(path, { archive: dir, compress: 'zstd' }), (error: unknown) => {
      assert.ok(isBackupError(error, 'INVALID_OPTION'));
      assert.match((error as Error).message, /zstd needs Node 22\.15/);
      return true;
    });
    assert.deepEqual(await readdir(dir), []);
  }
});

/** A directory on a real tmpfs with a few pages left; skipped where mounting is not allowed. */
async function smallDisk(t: TestContext, bytes: number): Promise<string | undefined> {
  const dir = await mkdtemp(join(work, 'full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    return undefined;
  }
  t.after(() => execFileSync('umount', [dir]));
  return dir;
}

test('a full disk: ARCHIVE_FAILED naming it, no file under the segment name, no temp left; after space is freed the push succeeds', async (t) => {
  const disk = await smallDisk(t, 2 * 1024 * 1024);
  if (disk === undefined) return t.skip('cannot mount a tmpfs here');
  await writeFile(join(disk, 'filler'), Buffer.alloc(4 * 1024 * 1024)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOSPC') throw error;
  });
  const { size } = await stat(join(disk, 'filler'));
  await truncate(join(disk, 'filler'), size - SEGMENT_SIZE / 2); // half a segment left
  const { path, body } = await walFile(work, SEGMENT);
  await assert.rejects(archivePush(path, { archive: disk }), (error: unknown) => {
    assert.ok(isBackupError(error, 'ARCHIVE_FAILED'), String(error));
    assert.match((error as Error).message, /disk is full/);
    return true;
  });
  assert.deepEqual(await readdir(disk), ['filler'], 'no partial segment and no temp file');
  await truncate(join(disk, 'filler'), 0);
  assert.equal((await archivePush(path, { archive: disk })).written, true);
  assert.ok((await readFile(join(disk, SEGMENT))).equals(body));
});

describe('the CLI as PostgreSQL runs it', () => {
  let box: CliSandbox;
  before(async () => {
    box = await CliSandbox.create();
  });
  after(async () => {
    await box?.destroy();
  });

  test('archive-push %p from the data directory: 0 stored, 0 again, 1 for other content (WAL_CONFLICT); archive-get: 0, then 1 for a missing file', async () => {
    const pgdata = join(box.base, 'pgdata');
    await mkdir(join(pgdata, 'pg_wal'), { recursive: true });
    const archive = join(box.base, 'wal');
    await mkdir(archive);
    const { body } = await walFile(join(pgdata, 'pg_wal'), SEGMENT);
    const cli = (args: string[]): Promise<CommandResult> => run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: pgdata, env: box.env() });
    let result = await cli(['archive-push', `pg_wal/${SEGMENT}`, '--archive', `file://${archive}`, '--compress', 'gzip']);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout, '', 'quiet on success: the server log gets only failures');
    result = await cli(['archive-push', `pg_wal/${SEGMENT}`, '--archive', archive, '--json']);
    assert.equal(result.code, 0, explain(result));
    assert.equal(JSON.parse(result.stdout).written, false);
    await writeFile(join(pgdata, 'pg_wal', SEGMENT), randomBytes(100));
    result = await cli(['archive-push', `pg_wal/${SEGMENT}`, '--archive', archive]);
    assert.equal(result.code, 1, explain(result));
    assert.match(result.stderr, /WAL_CONFLICT/);
    result = await cli(['archive-get', SEGMENT, 'pg_wal/RECOVERYXLOG', '--archive', archive]);
    assert.equal(result.code, 0, explain(result));
    assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(body));
    result = await cli(['archive-get', '00000002.history', 'pg_wal/RECOVERYHISTORY', '--archive', archive]);
    assert.equal(result.code, 1, explain(result));
    assert.match(result.stderr, /WAL_NOT_FOUND/);
    result = await cli(['archive-get', SEGMENT, '--archive', archive]);
    assert.equal(result.code, 2, 'a missing argument is a usage error');
  });

  test('archiveGetCommand / archivePushCommand quote the URL for sh and double % for PostgreSQL', () => {
    const url = s3ArchiveUrl(s3, 'it%27s');
    const hit =
      'q=pg_wal/pgsb-prefetch/%f n=pg_wal/pgsb-prefetch/.now.$$; ' +
      '{ [ -f $q.fetching ] && { while [ ! -f $q ] && [ -f $q.fetching ] && : > $n && [ $q.fetching -nt $n ]; do sleep 0.02 || break; done; rm -f $n; }; ' +
      '[ -f $q ] && mv -f $q "%p" 2>/dev/null; } || ' +
      '{ [ -f $q.missing ] && : > $n && if [ $q.missing -nt $n ]; then rm -f $n; exit 1; fi; rm -f $n; false; } || ';
    assert.equal(archiveGetCommand(url), `${hit}pg-split-backup archive-get %f %p --archive '${url.replace(/%/g, '%%')}'`, 'S3 prefetches: a download under way is waited for, a queued segment is a shell mv, a known miss a shell exit 1');
    // PostgreSQL 10-12 cut restore_command at 1023 bytes (MAXPGPATH): the shell parts leave room for the program, URL and flags.
    assert.ok(hit.length < 400, `the shell parts take ${hit.length} bytes`);
    assert.equal(archiveGetCommand(url, { prefetch: 0 }), `pg-split-backup archive-get %f %p --archive '${url.replace(/%/g, '%%')}' --prefetch 0`);
    assert.equal(archiveGetCommand('/var/lib/wal', { prefetch: 4 }), `${hit}pg-split-backup archive-get %f %p --archive /var/lib/wal --prefetch 4`);
    assert.equal(archiveGetCommand('/var/lib/wal'), 'pg-split-backup archive-get %f %p --archive /var/lib/wal');
    assert.equal(archiveGetCommand("/var/it's here"), `pg-split-backup archive-get %f %p --archive '/var/it'\\''s here'`);
    assert.equal(archivePushCommand('/wal', { compress: 'gzip', program: '/usr/bin/node /opt/m.js' }), '/usr/bin/node /opt/m.js archive-push %p --archive /wal --compress gzip');
    assert.throws(() => archiveGetCommand('relative/dir'), (error: unknown) => isBackupError(error, 'INVALID_URL'));
  });
});

describe('temp files of crashed pushes in a directory archive', () => {
  // The writer tag archive-push puts in its temp names: a hash of the host name, pid, start ticks.
  const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
  const ticksOf = (pid: number): string => {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]!;
  };
  const deadPid = (): number => spawnSync('true').pid!;
  const rand = (): string => randomBytes(6).toString('hex');
  const minutesAgo = (m: number): Date => new Date(Date.now() - m * 60_000);

  /** Plants the temp files a crash (or a live push) would leave; returns the ones that are stale. */
  async function plant(dir: string): Promise<{ stale: string[]; live: string[] }> {
    const dead = deadPid();
    const files: [string, number, boolean][] = [
      [`.${SEGMENT}.${HOST}-${dead}-12345.${rand()}.tmp`, 11, true], // this host, writer gone, 11 min
      [`.000000010000000000000004.gz.${HOST}-${dead}-12345.${rand()}.tmp`, 30, true], // another NAME
      [`.000000010000000000000005.${HOST}-${dead}-12345.${rand()}.tmp`, 1, false], // writer gone, but young
      [`.${SEGMENT}.${HOST}-${process.pid}-${ticksOf(process.pid)}.${rand()}.tmp`, 120, false], // a live writer, however old
      [`.${SEGMENT}.${HOST}-${process.pid}-1.${rand()}.tmp`, 11, true], // this pid, but started at another time: reused
      [`.${SEGMENT}.0badcafe-${dead}-12345.${rand()}.tmp`, 120, false], // another host: only by age
      [`.${SEGMENT}.0badcafe-${dead}-12345.${rand()}.tmp`, 25 * 60, true],
      [`.${SEGMENT}.${rand()}.tmp`, 60, false], // the old name, writer unknown
      [`.${SEGMENT}.${rand()}.tmp`, 25 * 60, true],
      ['.not-ours.tmp', 25 * 60, false], // not an archive-push temp name
    ];
    for (const [name, age] of files) {
      await writeFile(join(dir, name), 'partial');
      await utimes(join(dir, name), minutesAgo(age), minutesAgo(age));
    }
    return { stale: files.filter(([, , s]) => s).map(([n]) => n).sort(), live: files.filter(([, , s]) => !s).map(([n]) => n).sort() };
  }

  test('the next 16th segment\'s push removes the temp files of writers that are gone (10 min old on this host, 24 h otherwise), never a live writer\'s', async () => {
    const dir = join(work, 'temps-push');
    await mkdir(dir, { recursive: true });
    const { stale, live } = await plant(dir);
    await mkdir(join(work, 'temps-push-src'));
    const { path } = await walFile(join(work, 'temps-push-src'), SEGMENT);
    const archive = new FilesystemWalArchive({ directory: dir });
    assert.deepEqual(await archive.listFileNames(), ['.not-ours.tmp'], 'temp files are not archive files: not listed');
    assert.deepEqual(await archive.removeStaleTempFiles({ dryRun: true }), stale, 'the dry run names exactly the stale ones');
    assert.equal((await archivePush(path, { archive })).written, true);
    assert.deepEqual((await readdir(dir)).filter((n) => n !== SEGMENT).sort(), [...stale, ...live].sort(), 'segment 3: no listing, nothing removed');
    const sixteenth = '000000010000000000000010';
    const result = await archivePush((await walFile(join(work, 'temps-push-src'), sixteenth)).path, { archive });
    assert.equal(result.written, true);
    const left = (await readdir(dir)).filter((n) => n !== SEGMENT && n !== sixteenth).sort();
    assert.deepEqual(left, live, 'stale temp files removed, the others kept');
    for (const name of stale) assert.equal(isStaleArchiveTemp(name, minutesAgo(0)), false, 'a file just written is never stale');
  });

  test('expire --dry-run reports stale temp files, expire removes them; info counts none of them', async () => {
    const dir = join(work, 'temps-expire');
    await mkdir(dir, { recursive: true });
    const store = new FilesystemSummaryStore({ directory: join(work, 'temps-expire-summaries') });
    await writeSummaries(store, 2);
    await fillDirectory(dir, segmentNames(1, 2, 13));
    const { stale, live } = await plant(dir);
    const archive = new FilesystemWalArchive({ directory: dir });
    const info = await backupInfo({ store, walArchive: archive });
    assert.deepEqual(info.archive!.other, ['.not-ours.tmp']);
    assert.equal(info.archive!.bytes, 12);
    const dry = await expire({ store, walArchive: archive, policy: { keepLast: 2 }, dryRun: true });
    assert.deepEqual(dry.staleTempFiles, stale);
    assert.equal((await readdir(dir)).length, 12 + stale.length + live.length, 'the dry run changed nothing');
    const report = await expire({ store, walArchive: archive, policy: { keepLast: 2 } });
    assert.deepEqual(report.staleTempFiles, stale);
    assert.deepEqual(report.removedWal, []);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('.')).sort(), live);
  });
});

describe('archive-get --prefetch', () => {
  const seg = (n: number): string => `00000001000000000000000${n}`;
  async function until(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`waited 30 s for ${what}`);
  }
  /** A data directory in recovery, and an archive holding the segments `archived` of `written` (all their bodies kept). */
  async function recovering(name: string, written: number[], archived: (n: number) => boolean): Promise<{ dir: string; pgdata: string; src: string; queue: string; bodies: Map<string, Buffer> }> {
    const [dir, pgdata, src] = ['archive', 'pgdata', 'src'].map((d) => join(work, `${name}-${d}`)) as [string, string, string];
    for (const d of [dir, join(pgdata, 'pg_wal'), src]) await mkdir(d, { recursive: true });
    await writeFile(join(pgdata, 'recovery.signal'), '');
    const bodies = new Map<string, Buffer>();
    for (const n of written) {
      const { path, body } = await walFile(src, seg(n));
      bodies.set(seg(n), body);
      if (archived(n)) await archivePush(path, { archive: dir });
    }
    return { dir, pgdata, src, queue: join(pgdata, 'pg_wal', 'pgsb-prefetch'), bodies };
  }
  /** restore_command as PostgreSQL would run it for `name`, with its substitutions made. */
  const restoreThrough = (line: string, pgdata: string, name: string): Promise<CommandResult> =>
    run('sh', ['-c', line.replace(/%f/g, name).replace(/%p/g, 'pg_wal/RECOVERYXLOG').replace(/%%/g, '%')], { cwd: pgdata });

  test('queue hits; a miss while the prefetcher runs is answered by it: WAL_NOT_FOUND from a look after the request, the file once archived; cleared when recovery ends', async () => {
    const { dir, pgdata, src, queue, bodies } = await recovering('prefetch', [1, 2, 3, 4], (n) => n < 4);
    // Through the CLI, as PostgreSQL runs it (the prefetcher it starts needs tsx by absolute URL).
    const get = async (name: string): Promise<{ fromQueue: boolean }> => {
      const args = ['archive-get', name, 'pg_wal/RECOVERYXLOG', '--archive', dir, '--prefetch', '2', '--json'];
      const r = await run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: pgdata });
      const out = JSON.parse(r.stdout) as { ok: boolean; fromQueue: boolean; error?: { code: string } };
      if (!out.ok) throw new BackupError(out.error!.code as never, explain(r));
      return out;
    };
    const first = await get(seg(1));
    assert.equal(first.fromQueue, false, 'the first call fetches itself and starts the prefetcher');
    await until('the prefetcher to queue the next two', async () => (await readdir(queue)).includes(seg(3)));
    const second = await get(seg(2));
    assert.equal(second.fromQueue, true);
    assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(bodies.get(seg(2))!));
    assert.equal((await get(seg(3))).fromQueue, true);
    // Not archived yet: the prefetcher has looked before and found nothing; asked now, it looks again.
    await rejectsWith(get(seg(4)), 'WAL_NOT_FOUND');
    await archivePush(join(src, seg(4)), { archive: dir });
    const fourth = await get(seg(4));
    assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(bodies.get(seg(4))!), 'archived since: fetched');
    assert.equal(fourth.fromQueue, true, 'through the running prefetcher, not a fetch of its own');
    await rm(join(pgdata, 'recovery.signal'));
    await until('the prefetcher to clear the queue and exit', async () => !(await readdir(queue)).some((n) => /^[0-9A-F]{24}|\.answer$|lock$|^wanted$/.test(n)));
    assert.match(await readFile(join(queue, 'prefetcher.log'), 'utf8'), /recovery has ended/);
  });

  test("restore_command's shell part takes a queued segment without Node; the prefetcher follows what was taken; history files go through it too", async () => {
    const { dir, pgdata, src, queue, bodies } = await recovering('prefetch-hit', [1, 2, 3, 4, 5], () => true);
    await writeFile(join(src, '00000002.history'), '1\t0/3000000\tno recovery target specified\n');
    await archivePush(join(src, '00000002.history'), { archive: dir });
    // The line PostgreSQL would run, with its substitutions made; `program` exits 42, so only the
    // shell part can succeed.
    const line = archiveGetCommand(dir, { prefetch: 2, program: "sh -c 'exit 42'" });
    const restore = (name: string): Promise<CommandResult> => restoreThrough(line, pgdata, name);
    await mkdir(queue, { recursive: true });
    await writeFile(join(queue, seg(1)), bodies.get(seg(1))!);
    assert.equal((await restore(seg(1))).code, 0, 'queued: taken by mv');
    assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(bodies.get(seg(1))!));
    assert.deepEqual(await readdir(queue), [], 'moved, not copied');
    assert.equal((await restore(seg(1))).code, 42, 'not queued: archive-get runs');

    const get = async (name: string): Promise<{ ok: boolean; fromQueue?: boolean; error?: { code: string } }> => {
      const args = ['archive-get', name, 'pg_wal/RECOVERYXLOG', '--archive', dir, '--prefetch', '2', '--json'];
      return JSON.parse((await run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: pgdata })).stdout) as never;
    };
    assert.equal((await get(seg(1))).fromQueue, false, 'the first call starts the prefetcher and fetches itself');
    await until('the prefetcher to queue 2 and 3', async () => (await readdir(queue)).filter((n) => n === seg(2) || n === seg(3)).length === 2);
    // While it downloads, `.fetching` makes the shell wait; once the file is queued the marker goes.
    await until('the .fetching markers of 2 and 3 to go', async () => !(await readdir(queue)).some((n) => n === `${seg(2)}.fetching` || n === `${seg(3)}.fetching`));
    // Taken as the shell part takes them: nobody tells the prefetcher, which must see it.
    for (const n of [2, 3]) assert.equal((await restore(seg(n))).code, 0);
    await until('the prefetcher to queue 4 and 5 after what was taken', async () => (await readdir(queue)).filter((n) => n === seg(4) || n === seg(5)).length === 2);
    assert.equal((await restore(seg(4))).code, 0);
    assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(bodies.get(seg(4))!));
    const history = await get('00000002.history');
    assert.equal(history.fromQueue, true, 'the next timeline\'s history file, which recovery asks for as it ends, is queued ahead');
    assert.equal(await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'), 'utf8'), await readFile(join(src, '00000002.history'), 'utf8'));
    assert.equal((await get('00000003.history')).error?.code, 'WAL_NOT_FOUND');
    await rm(join(pgdata, 'recovery.signal'));
    await until('the prefetcher to exit', async () => !(await readdir(queue)).includes('prefetcher.lock'));
    assert.match(await readFile(join(queue, 'prefetcher.log'), 'utf8'), /^.*5 files queued, 4 taken from the queue, 1 asked for by archive-get$/m, 'seg 2-5 and 00000002.history; 2, 3, 4 taken by sh, the history file by archive-get; 00000003.history asked');
  });

  test("the prefetcher begins at backup_label's start segment, before recovery asks for a segment", async () => {
    const { dir, pgdata, queue, bodies } = await recovering('prefetch-label', [1, 2, 3], () => true);
    await writeFile(join(pgdata, 'backup_label'), `START WAL LOCATION: 0/1000028 (file ${seg(1)})\nCHECKPOINT LOCATION: 0/1000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-12-07 02:00:00 UTC\nLABEL: x\nSTART TIMELINE: 1\n`);
    const line = archiveGetCommand(dir, { prefetch: 2, program: "sh -c 'exit 42'" });
    const args = ['archive-get', '00000002.history', 'pg_wal/RECOVERYHISTORY', '--archive', dir, '--prefetch', '2'];
    // Recovery's first call is for the next timeline's history file: not archived, and it starts the prefetcher.
    assert.equal((await run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: pgdata })).code, 1);
    await until('the prefetcher to queue the start segment and the next', async () => (await readdir(queue)).filter((n) => n === seg(1) || n === seg(2)).length === 2);
    assert.equal((await restoreThrough(line, pgdata, seg(1))).code, 0, 'the start segment: a shell mv');
    assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(bodies.get(seg(1))!));
    await rm(join(pgdata, 'recovery.signal'));
    await until('the prefetcher to exit', async () => !(await readdir(queue)).includes('prefetcher.lock'));
  });

  test("a running prefetcher's misses are answered by restore_command's shell part, kept fresh while it looks again, withdrawn once archived, cleared when it exits", async () => {
    const { dir, pgdata, src, queue, bodies } = await recovering('prefetch-miss', [1, 2, 3], (n) => n < 3);
    // `program` exits 42: only the shell part can answer 0 (queued) or 1 (a known miss).
    const line = archiveGetCommand(dir, { prefetch: 2, program: "sh -c 'exit 42'" });
    const restore = (name: string): Promise<CommandResult> => restoreThrough(line, pgdata, name);
    const args = ['archive-get', seg(1), 'pg_wal/RECOVERYXLOG', '--archive', dir, '--prefetch', '2'];
    assert.equal((await run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: pgdata })).code, 0, 'the first call starts the prefetcher');
    const marker = join(queue, `${seg(3)}.missing`);
    const validUntil = async (): Promise<number> => (await stat(marker).catch(() => undefined))?.mtimeMs ?? 0;
    await until('the prefetcher to queue 2 and mark 3 missing', async () => (await readdir(queue)).includes(seg(2)) && (await validUntil()) > Date.now());
    const first = await validUntil();
    assert.ok(first <= Date.now() + 2000, 'valid for at most 2 s from the look');
    assert.equal((await restore(seg(3))).code, 1, 'a known miss: "no such file" without archive-get');
    await until('the prefetcher to look again and renew the answer', async () => (await validUntil()) > first);
    assert.equal((await restore(seg(2))).code, 0, 'queued: taken by mv');
    // 3 is not archived: 2 is the end of the archive, which recovery reads again as it ends.
    await until('the last segment to be queued once more', async () => (await readdir(queue)).includes(seg(2)));
    assert.equal((await restore(seg(2))).code, 0, 'asked again: a shell mv again');
    assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(bodies.get(seg(2))!));
    await archivePush(join(src, seg(3)), { archive: dir });
    await until('the prefetcher to find 3 and queue it', async () => (await readdir(queue)).includes(seg(3)));
    assert.equal(await validUntil(), 0, 'the miss was withdrawn before the segment was fetched, not left to expire');
    assert.equal((await restore(seg(3))).code, 0);
    assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(bodies.get(seg(3))!));
    // The end of the archive again: 4 is looked at less and less often, 5 (archived after 4) not at all.
    const validFor = async (n: number): Promise<number> => ((await stat(join(queue, `${seg(n)}.missing`)).catch(() => undefined))?.mtimeMs ?? 0) - Date.now();
    await until('the window to move on: 4 marked missing', async () => (await validFor(4)) > 0);
    assert.ok((await readdir(queue)).includes('00000001.history.missing'), "this timeline's history file, asked for as recovery ends, looked at too");
    // Looks again after 1, 2, 4 s: the third look's answer lives 4 s plus a margin (the first's, 1 s plus it).
    await until('a later look at 4 to answer for longer', async () => (await validFor(4)) > 3500);
    assert.ok((await validFor(5)) <= 0, '5 is not looked at again while 4, before it, is missing');
    assert.equal((await restore(seg(4))).code, 1, 'still a known miss: answered by the shell');
    await rm(join(pgdata, 'recovery.signal'));
    await until('the prefetcher to exit', async () => !(await readdir(queue)).includes('prefetcher.lock'));
    assert.deepEqual((await readdir(queue)).filter((n) => n !== 'prefetcher.log'), [], 'no marker, queued file or temp file left');
    assert.equal((await restore(seg(4))).code, 42, 'after it: archive-get runs');
  });
});
