import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { FilesystemWalArchive, assertWalComplete, isBackupError, neededWalFiles, verifyWal } from '../../src/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import { TestS3Server } from '../harness/s3-server.js';
import { sampleSummary } from '../stores/conformance.js';

const summary = sampleSummary('wal-check', { startWalFile: '000000010000000000000009', stopWalFile: '00000001000000000000000C' });
const onTimeline3 = sampleSummary('wal-tli3', { timeline: 3, startWalFile: '0000000300000000000000FE', stopWalFile: '000000030000000100000001' });

describe('verifyWal', () => {
  test('the needed files run from the start file through the stop file, with the history file above timeline 1', () => {
    assert.deepEqual(neededWalFiles(summary), ['000000010000000000000009', '00000001000000000000000A', '00000001000000000000000B', '00000001000000000000000C']);
    assert.deepEqual(neededWalFiles(onTimeline3), ['00000003.history', '0000000300000000000000FE', '0000000300000000000000FF', '000000030000000100000000', '000000030000000100000001']);
  });

  test('a filesystem archive: complete with plain and compressed files, and a removed segment is reported', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgsb-walarchive-'));
    try {
      for (const name of ['000000010000000000000008', '000000010000000000000009.gz', '00000001000000000000000A.zst', '00000001000000000000000B.lz4', '00000001000000000000000C', '000000010000000000000009.00000028.backup']) {
        await writeFile(join(dir, name), 'x');
      }
      const archive = new FilesystemWalArchive(dir);
      assert.equal((await verifyWal(summary, archive)).complete, true);
      await rm(join(dir, '00000001000000000000000B.lz4'));
      await writeFile(join(dir, '00000001000000000000000B.partial'), 'x');
      const result = await verifyWal(summary, archive);
      assert.equal(result.complete, false);
      assert.deepEqual(result.missing, ['00000001000000000000000B']);
      await assert.rejects(assertWalComplete(summary, archive), (e) => isBackupError(e, 'WAL_INCOMPLETE') && /00000001000000000000000B/.test(e.message));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('an S3 archive (s3rver)', () => {
    let server: TestS3Server;
    before(async () => {
      server = await TestS3Server.start('wal');
    });
    after(async () => {
      await server?.destroy();
    });

    test('one listing finds what is there and what is missing, ignoring deeper keys', async () => {
      const options = server.storeOptions('pg/wal');
      const client = new S3Client({ ...options, maxAttempts: 1 });
      for (const name of ['00000003.history', '0000000300000000000000FE.gz', '0000000300000000000000FF', 'sub/000000030000000100000000', '000000030000000100000001.xz']) {
        await client.send(new PutObjectCommand({ Bucket: options.bucket, Key: `pg/wal/${name}`, Body: 'x' }));
      }
      const result = await verifyWal(onTimeline3, new S3WalArchive(options));
      assert.deepEqual(result.missing, ['000000030000000100000000']);
      client.destroy();
    });
  });
});

test('FilesystemWalArchive takes { directory }; the old positional form still works; no directory is INVALID_OPTION', async () => {
  assert.equal(new FilesystemWalArchive({ directory: '/var/backups/wal' }).name, 'file:///var/backups/wal');
  assert.equal(new FilesystemWalArchive('/var/backups/wal').directory, '/var/backups/wal');
  assert.throws(() => new FilesystemWalArchive({} as never), (e) => isBackupError(e, 'INVALID_OPTION'));
});
