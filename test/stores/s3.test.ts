import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { isBackupError } from '../../src/index.js';
import { S3SummaryStore } from '../../src/stores/s3.js';
import { TestS3Server } from '../harness/s3-server.js';
import { runStoreConformance, sampleSummary } from '../../src/testing/index.js';

const FAST_RETRY = { retries: 3, minDelayMs: 50, maxDelayMs: 200 };

describe('S3SummaryStore against s3rver', () => {
  let server: TestS3Server;
  let prefixes = 0;
  before(async () => {
    server = await TestS3Server.start();
  });
  after(async () => {
    await server?.destroy();
  });

  runStoreConformance({
    name: 'S3SummaryStore',
    describe,
    test,
    abilities: { exclusiveCreate: false },
    makeFixture: async () => {
      const options = { ...server.storeOptions(`run/${++prefixes}/summaries`), retry: FAST_RETRY };
      const raw = new S3Client({ ...options, maxAttempts: 1 });
      return {
        store: new S3SummaryStore(options),
        corrupt: async (id, name, body) => {
          await raw.send(new PutObjectCommand({ Bucket: options.bucket, Key: `${options.prefix}/${id}/${name}`, Body: body }));
        },
        cleanup: async () => raw.destroy(),
      };
    },
  });

  test('list and listKeys page through more than 1000 keys', async () => {
    const store = new S3SummaryStore({ ...server.storeOptions('many'), retry: FAST_RETRY });
    // Two objects per summary (backup_label, summary.json): 1300 keys, two pages of at most 1000.
    const ids = Array.from({ length: 650 }, (_, i) => `b-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => store.write(sampleSummary(id))));
    const keys = await store.listKeys();
    assert.equal(keys.length, 1300);
    assert.equal(new Set(keys).size, 1300);
    assert.deepEqual(await store.list(), ids);
  });

  test('a write made while the server is down succeeds once it is back within the retries', async () => {
    const store = new S3SummaryStore({ ...server.storeOptions('downup'), retry: { retries: 8, minTimeout: 100, maxTimeout: 400 } });
    await server.stop();
    const writing = store.write(sampleSummary('down-then-up'));
    await delay(700);
    await server.startAgain();
    const receipt = await writing;
    assert.equal(receipt.written, true);
    assert.equal((await store.get('down-then-up')).id, 'down-then-up');
  });

  test('a server that stays down gives SINK_FAILED after bounded retries', async () => {
    const store = new S3SummaryStore({ ...server.storeOptions('down'), retry: FAST_RETRY });
    await server.stop();
    try {
      const began = Date.now();
      await assert.rejects(store.write(sampleSummary('never')), (e) => isBackupError(e, 'SINK_FAILED') && /never/.test(e.message));
      assert.ok(Date.now() - began < 10_000);
    } finally {
      await server.startAgain();
    }
  });

  test('a missing bucket fails at once with SINK_FAILED, without retrying', async () => {
    let calls = 0;
    const client = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, maxAttempts: 1 });
    client.middlewareStack.add((next) => async (args) => { calls++; return next(args); }, { step: 'initialize' });
    const store = new S3SummaryStore({ bucket: 'no-such-bucket', client, retry: FAST_RETRY });
    await assert.rejects(store.write(sampleSummary('nobucket')), (e) => isBackupError(e, 'SINK_FAILED') && /NoSuchBucket/.test(e.message));
    assert.equal(calls, 1);
  });

  test('server-side encryption is requested on every object written', async () => {
    const seen: unknown[] = [];
    const client = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, maxAttempts: 1 });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutObjectCommand') seen.push((args.input as { ServerSideEncryption?: string }).ServerSideEncryption);
        return next(args);
      },
      { step: 'initialize' },
    );
    const store = new S3SummaryStore({ bucket: server.bucket, prefix: 'sse', client, serverSideEncryption: 'AES256', retry: FAST_RETRY });
    await store.write(sampleSummary('encrypted', { tablespaceMap: '1 /x\n' }));
    assert.deepEqual(seen, ['AES256', 'AES256', 'AES256']);
  });
});
