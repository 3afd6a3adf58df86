// expire and info over real stores and archives (a directory, s3rver), with synthetic summaries:
// what the CLI prints, that --dry-run changes nothing, that the refusals delete no WAL, and that a
// backup posted while expire runs keeps its WAL.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backupInfo, expire, FilesystemSummaryStore, FilesystemWalArchive } from '../../src/index.js';
import type { LabelStore } from '../../src/index.js';
import { runCli } from '../../src/cli/main.js';
import { S3SummaryStore, S3WalArchive } from '../../src/stores/s3.js';
import { TestS3Server } from '../harness/s3-server.js';
import { fillBucket, fillDirectory, rangeSummary, seg, segmentNames } from './fixtures.js';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: any }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

const FOUR = [rangeSummary('b1', 2, 3, 1), rangeSummary('b2', 5, 5, 2), rangeSummary('b3', 8, 9, 3), rangeSummary('b4', 11, 12, 4)];

describe('expire and info on a filesystem store and archive', () => {
  let work: string;
  let storeDir: string;
  let archiveDir: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pgsb-expire-fs-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });
  const fresh = async (name: string, skip: number[] = []): Promise<FilesystemSummaryStore> => {
    storeDir = join(work, name, 'summaries');
    archiveDir = join(work, name, 'wal');
    await mkdir(archiveDir, { recursive: true });
    const store = new FilesystemSummaryStore({ directory: storeDir });
    for (const s of FOUR) await store.write(s);
    await fillDirectory(archiveDir, [...segmentNames(1, 1, 14, skip), 'README']);
    return store;
  };

  test('--dry-run lists exactly what would go, with sizes, and changes nothing; then expire removes just that', async () => {
    const store = await fresh('plain');
    const dry = await cli(['expire', '--store', storeDir, '--wal-archive', archiveDir, '--keep-last', '2', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^dry run: 2 of 4 summaries would remove; WAL: 7 files \(7 B\) would remove/m);
    assert.match(dry.stdout, /^would remove summary b1 \(\d+(\.\d)? (B|KiB)\)$/m);
    assert.match(dry.stdout, new RegExp(`^would remove WAL ${seg(1, 7)} \\(1 B\\)$`, 'm'));
    assert.equal((await store.list()).length, 4);
    assert.equal((await readdir(archiveDir)).length, 15);
    const real = await cli(['expire', '--store', storeDir, '--wal-archive', archiveDir, '--keep-last', '2', '--json']);
    assert.equal(real.code, 0, real.stdout);
    assert.deepEqual(real.json.removedSummaries, ['b1', 'b2']);
    assert.deepEqual(await store.list(), ['b3', 'b4']);
    assert.deepEqual((await readdir(archiveDir)).sort(), [...segmentNames(1, 8, 14), 'README'].sort());
  });

  test('a gap inside a kept backup\'s range: exit 6 ARCHIVE_MISMATCH, the summaries go as planned, no WAL is deleted', async () => {
    const store = await fresh('gap', [9]);
    const run = await cli(['expire', '--store', storeDir, '--wal-archive', archiveDir, '--keep-last', '2', '--json']);
    assert.equal(run.code, 6, run.stdout);
    assert.equal(run.json.error.code, 'ARCHIVE_MISMATCH');
    assert.match(run.json.error.message, /b3 needs 000000010000000000000009/);
    assert.deepEqual(await store.list(), ['b3', 'b4']);
    assert.equal((await readdir(archiveDir)).length, 14);
    const info = await backupInfo({ store, walArchive: new FilesystemWalArchive(archiveDir) });
    const window = info.clusters[0]!.window!;
    assert.equal(window.fromBackup, 'b4', 'b3 does not restore');
    assert.equal(info.clusters[0]!.backups[0]!.wal!.complete, false);
    assert.deepEqual(info.archive!.timelines[0]!.gaps, [{ from: seg(1, 9), to: seg(1, 9), count: 1 }]);
    assert.equal(window.cutBy, undefined);
  });

  test('info: the recoverable window runs to the last contiguous segment, and a gap after the oldest backup cuts it', async () => {
    const store = await fresh('window', [13]);
    const report = await backupInfo({ store, walArchive: new FilesystemWalArchive(archiveDir) });
    const window = report.clusters[0]!.window!;
    assert.equal(window.fromBackup, 'b1');
    assert.equal(window.to.walFile, seg(1, 12));
    assert.equal(window.to.lsn, '0/D000000');
    assert.equal(window.cutBy, seg(1, 13));
    assert.ok(window.to.archivedAt);
    const text = await cli(['info', '--store', storeDir, '--wal-archive', archiveDir]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /recoverable window: from 0\/3000138/);
    assert.match(text.stdout, /WARNING: the window is cut by a gap: 00000001000000000000000D is missing/);
    assert.match(text.stdout, /^ {2}b1 +2026-11-01T00:00:00.000Z/m);
  });

  test('an unreadable summary refuses WAL deletion and is kept', async () => {
    const store = await fresh('corrupt');
    await rm(join(storeDir, 'b2', 'backup_label'));
    const run = await cli(['expire', '--store', storeDir, '--wal-archive', archiveDir, '--keep-last', '1', '--json']);
    assert.equal(run.code, 6, run.stdout);
    assert.match(run.json.error.message, /summary of b2 cannot be read/);
    assert.deepEqual(await store.list(), ['b2', 'b4']);
    assert.equal((await readdir(archiveDir)).length, 15);
  });

  test('info shows several clusters in one store apart, each with its own backups and window', async () => {
    const store = await fresh('clusters');
    await store.write(rangeSummary('other-cluster', 3, 3, 9, { systemIdentifier: '7000000000000000999' }));
    const report = await backupInfo({ store, walArchive: new FilesystemWalArchive(archiveDir) });
    assert.deepEqual(report.clusters.map((c) => [c.systemIdentifier, c.backups.map((b) => b.id)]), [
      ['7441234567890123456', ['b1', 'b2', 'b3', 'b4']],
      ['7000000000000000999', ['other-cluster']],
    ]);
    const run = await cli(['info', '--store', storeDir]);
    assert.match(run.stdout, /cluster 7441234567890123456 .*4 backups[\s\S]*cluster 7000000000000000999 .*1 backups/);
  });

  test('bad policies exit 2 before anything is read', async () => {
    for (const args of [['--keep-last', '0'], ['--keep-last', '2', '--keep', 'b1'], [], ['--keep-within', 'forever'], ['--keep', 'nope']]) {
      const run = await cli(['expire', '--store', join(work, 'none'), ...args, '--json']);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stdout}`);
      assert.equal(run.json.error.code, 'INVALID_OPTION');
    }
  });

  test('a backup posted while expire runs (even one that started before the oldest kept backup) keeps its WAL', async () => {
    const inner = await fresh('race');
    let lists = 0;
    // The store as expire sees it; the second listing (just before WAL goes) shows a new backup.
    const racing: LabelStore = {
      name: inner.name,
      get: (id, o) => inner.get(id, o),
      has: (id, o) => inner.has(id, o),
      delete: (id, o) => inner.delete(id, o),
      list: async (o) => {
        if (++lists === 2) await inner.write(rangeSummary('late', 6, 13, 5));
        return inner.list(o);
      },
    };
    const report = await expire({ store: racing, walArchive: new FilesystemWalArchive(archiveDir), policy: { keepLast: 1 } });
    assert.deepEqual(report.appeared, ['late']);
    assert.deepEqual(report.removedSummaries, ['b1', 'b2', 'b3']);
    assert.deepEqual(report.removedWal, segmentNames(1, 1, 5));
    assert.deepEqual((await readdir(archiveDir)).filter((n) => n !== 'README').sort(), segmentNames(1, 6, 14));
  });
});

describe('expire and info on S3 (s3rver)', () => {
  let server: TestS3Server;
  before(async () => {
    server = await TestS3Server.start('lifecycle');
  });
  after(async () => {
    await server?.destroy();
  });

  test('keep-within on an S3 store and archive: summaries and WAL removed, sizes and times from the listing', async () => {
    const store = new S3SummaryStore(server.storeOptions('pg/summaries'));
    for (const s of FOUR) await store.write(s);
    const walOptions = server.storeOptions('pg/wal');
    await fillBucket(walOptions, [...segmentNames(1, 1, 14), '00000001000000000000000E.00000028.backup'], 'seg');
    const archive = new S3WalArchive(walOptions);
    const files = await archive.listFiles();
    assert.equal(files.length, 15);
    assert.ok(files.every((f) => f.size === 3 && f.modifiedAt instanceof Date));
    const info = await backupInfo({ store, walArchive: archive });
    assert.equal(info.archive!.bytes, 45);
    assert.equal(info.clusters[0]!.window!.to.walFile, seg(1, 14));
    const now = new Date(Date.UTC(2026, 10, 1) + 3.6 * 60_000);
    const dry = await expire({ store, walArchive: archive, policy: { keepWithinMs: 90_000 }, now, dryRun: true });
    assert.deepEqual(dry.plan.remove.map((r) => r.id), ['b1', 'b2']);
    assert.equal(dry.plan.wal!.removeBytes, 21);
    assert.equal((await archive.listFileNames()).length, 15);
    const report = await expire({ store, walArchive: archive, policy: { keepWithinMs: 90_000 }, now });
    assert.deepEqual(report.removedWal, segmentNames(1, 1, 7));
    assert.deepEqual(await store.list(), ['b3', 'b4']);
    assert.deepEqual((await archive.listFileNames()).sort(), [...segmentNames(1, 8, 14), '00000001000000000000000E.00000028.backup'].sort());
  });
});
