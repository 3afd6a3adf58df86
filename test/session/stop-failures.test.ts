import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BackupSession, FilesystemSummaryStore, MemorySummaryStore, isBackupError } from '../../src/index.js';
import type { BackupSummary, SinkReceipt, SummarySink } from '../../src/index.js';
import { S3Client } from '@aws-sdk/client-s3';
import { S3SummaryStore } from '../../src/stores/s3.js';
import { TestCluster, testMajors } from '../harness/index.js';
import { S3RVER_CREDENTIALS, TestS3Server } from '../harness/s3-server.js';

/** An S3 client for s3rver that counts the requests each command sends (the SDK itself never retries). */
function countingClient(endpoint: string): { client: S3Client; sent: string[] } {
  const sent: string[] = [];
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS, maxAttempts: 1 });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(String(context.commandName));
      return next(args);
    },
    { step: 'finalizeRequest' },
  );
  return { client, sent };
}

/** A sink that fails its first `failures` writes, then delegates. */
class FlakySink implements SummarySink {
  readonly name = 'flaky:';
  attempts = 0;
  constructor(
    private failures: number,
    private readonly inner = new MemorySummaryStore(),
  ) {}
  async write(summary: BackupSummary): Promise<SinkReceipt> {
    this.attempts++;
    if (this.failures-- > 0) throw new Error(`simulated outage (attempt ${this.attempts})`);
    return this.inner.write(summary);
  }
}

const majors = [...new Set([testMajors().filter((m) => m < 15).at(-1), testMajors().filter((m) => m >= 15).at(-1)])].filter((m): m is number => m !== undefined);

for (const major of majors) {
  describe(`stop() failures on PostgreSQL ${major}`, () => {
    let cluster: TestCluster;
    let work: string;
    before(async () => {
      cluster = await TestCluster.start({ major });
      work = await mkdtemp(join(tmpdir(), 'pgsb-stopfail-'));
    });
    after(async () => {
      await cluster?.destroy();
      await rm(work, { recursive: true, force: true });
    });

    test('a sink that keeps failing: retries, then SINK_FAILED naming the spool, which holds the complete summary', async () => {
      const good = new MemorySummaryStore();
      const bad = new FlakySink(Infinity);
      const spool = join(work, 'spool-a');
      const session = new BackupSession({ id: `sinkfail-${major}`, connection: cluster.connectionString, sinks: [good, bad], spoolDirectory: spool, sinkRetries: 2, fast: true });
      const retries: number[] = [];
      session.on('sink-retry', ({ attempt }) => retries.push(attempt));
      await session.start();
      const error = await session.stop().then(
        () => assert.fail('stop() must reject'),
        (e: unknown) => e,
      );
      assert.ok(isBackupError(error, 'SINK_FAILED'), String(error));
      assert.equal(error.details.spoolPath, join(spool, `sinkfail-${major}`));
      assert.match(error.message, /flaky:.*simulated outage/);
      assert.match(error.message, new RegExp(spool));
      assert.deepEqual(retries, [1, 2, 3]);
      assert.equal(bad.attempts, 3);
      const spooled = await new FilesystemSummaryStore({ directory: spool }).get(`sinkfail-${major}`);
      assert.deepEqual(spooled, await good.get(`sinkfail-${major}`));
      assert.equal(session.state, 'failed');
    });

    // One retry layer (docs/writing-a-sink.md): the S3 store retries each request itself, so the
    // session calls it once. Before, the session retried the store's retries: 6 x 6 requests.
    test('an S3 sink that is down at stop: 1 + retry.retries requests in all, no PUT, SINK_FAILED with the spool', async () => {
      const s3 = await TestS3Server.start();
      await s3.stop();
      try {
        const { client, sent } = countingClient(s3.endpoint);
        const store = new S3SummaryStore({ bucket: s3.bucket, client, retry: { retries: 2, minDelayMs: 10, maxDelayMs: 20 } });
        const retries: string[] = [];
        const session = new BackupSession({ id: `s3down-${major}`, connection: cluster.connectionString, sinks: [store], spoolDirectory: join(work, 'spool-s3'), sinkRetries: 5, fast: true });
        session.on('sink-retry', ({ sink }) => retries.push(sink));
        await session.start();
        await assert.rejects(session.stop(), (e) => isBackupError(e, 'SINK_FAILED') && e.details.spoolPath === join(work, 'spool-s3', `s3down-${major}`));
        // The existence check before any write, tried 3 times; nothing was ever PUT.
        assert.deepEqual(sent, ['GetObjectCommand', 'GetObjectCommand', 'GetObjectCommand']);
        assert.deepEqual(retries, [store.name], 'one failed call, not retried by the session');
      } finally {
        await s3.destroy();
      }
    });

    test('an S3 sink whose bucket does not exist: one request, then SINK_FAILED naming NoSuchBucket', async () => {
      const s3 = await TestS3Server.start();
      try {
        const { client, sent } = countingClient(s3.endpoint);
        const store = new S3SummaryStore({ bucket: 'no-such-bucket', client, retry: { retries: 2, minDelayMs: 10, maxDelayMs: 20 } });
        const session = new BackupSession({ id: `s3nobucket-${major}`, connection: cluster.connectionString, sinks: [store], spoolDirectory: join(work, 'spool-s3b'), sinkRetries: 5, fast: true });
        await session.start();
        await assert.rejects(session.stop(), (e) => isBackupError(e, 'SINK_FAILED') && /NoSuchBucket/.test(e.message));
        assert.deepEqual(sent, ['GetObjectCommand']);
      } finally {
        await s3.destroy();
      }
    });

    test('a sink that recovers within the retries: stop() succeeds and the spool is emptied', async () => {
      const flaky = new FlakySink(2);
      const spool = join(work, 'spool-b');
      const session = new BackupSession({ id: `sinkflaky-${major}`, connection: cluster.connectionString, sinks: [flaky], spoolDirectory: spool, sinkRetries: 3, fast: true });
      await session.start();
      const { receipts } = await session.stop();
      assert.equal(receipts[0]!.written, true);
      assert.equal(flaky.attempts, 3);
      assert.deepEqual(await new FilesystemSummaryStore({ directory: spool }).list(), []);
    });

    test('a failing archive_command: ARCHIVE_TIMEOUT says the summary is saved but the WAL is not archived', async () => {
      await cluster.setSettings({ archive_command: 'false' });
      try {
        const sink = new MemorySummaryStore();
        const session = new BackupSession({ id: `archfail-${major}`, connection: cluster.connectionString, sinks: [sink], spoolDirectory: join(work, 'spool-c'), archiveTimeout: 3000, fast: true });
        const waits: string[] = [];
        session.on('waiting-for-archive', ({ walFile }) => waits.push(walFile));
        await session.start();
        await assert.rejects(session.stop(), (e) => isBackupError(e, 'ARCHIVE_TIMEOUT') && /is saved, but WAL file [0-9A-F]{24} was not archived/.test(e.message));
        assert.ok(waits.length >= 2);
        assert.equal((await sink.get(`archfail-${major}`)).id, `archfail-${major}`);
      } finally {
        await cluster.setSettings({ archive_command: `test ! -f ${cluster.archiveDir}/%f && cp %p ${cluster.archiveDir}/%f` });
      }
    });

    test('maxHold: a backup held too long is aborted, lost names the limit, stop() rejects with BACKUP_ABORTED', async () => {
      const session = new BackupSession({ id: `maxhold-${major}`, connection: cluster.connectionString, sinks: [new MemorySummaryStore()], spoolDirectory: join(work, 'spool-d'), maxHold: 1000, fast: true });
      const lost = new Promise<string>((resolve) => session.once('lost', ({ reason }) => resolve(reason)));
      await session.start();
      assert.match(await lost, /maxHold/);
      await assert.rejects(session.stop(), (e) => isBackupError(e, 'BACKUP_ABORTED') && /maxHold/.test(e.message));
    });

    test('an AbortSignal given to the session aborts the backup', async () => {
      const controller = new AbortController();
      const session = new BackupSession({ id: `signal-${major}`, connection: cluster.connectionString, sinks: [], spoolDirectory: join(work, 'spool-e'), signal: controller.signal, fast: true });
      await session.start();
      const aborted = new Promise<string>((resolve) => session.once('aborted', ({ reason }) => resolve(reason)));
      controller.abort('operator pressed ^C');
      assert.match(await aborted, /operator pressed/);
      assert.equal(session.state, 'aborted');
    });
  });
}
