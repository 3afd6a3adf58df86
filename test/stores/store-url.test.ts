import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FilesystemSummaryStore, isBackupError } from '../../src/index.js';
import { openStore, parseStoreUrl } from '../../src/stores/store-url.js';

describe('parseStoreUrl', () => {
  test('file URLs and absolute paths name a directory', () => {
    assert.deepEqual(parseStoreUrl('file:///var/backups/pg'), { kind: 'file', directory: '/var/backups/pg' });
    assert.deepEqual(parseStoreUrl('/var/backups/pg/'), { kind: 'file', directory: '/var/backups/pg/' });
    assert.deepEqual(parseStoreUrl('file:///var/backups/with%20space'), { kind: 'file', directory: '/var/backups/with space' });
    assert.deepEqual(parseStoreUrl('file:/var/backups/pg'), { kind: 'file', directory: '/var/backups/pg' });
  });

  test('s3 URLs name a bucket, a prefix and S3-compatible options', () => {
    assert.deepEqual(parseStoreUrl('s3://my-bucket/pg/summaries/'), { kind: 's3', bucket: 'my-bucket', prefix: 'pg/summaries' });
    assert.deepEqual(parseStoreUrl('s3://my-bucket'), { kind: 's3', bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseStoreUrl('s3://b.example/p?endpoint=http://127.0.0.1:9000&region=eu-west-1&forcePathStyle=true&sse=AES256'), {
      kind: 's3',
      bucket: 'b.example',
      prefix: 'p',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
      serverSideEncryption: 'AES256',
    });
  });

  test('bad URLs are INVALID_URL', () => {
    const bad = [
      '',
      'relative/dir',
      './dir',
      'ftp://host/dir',
      'http://example.com/x',
      'file://otherhost/dir',
      'file:///dir?x=1',
      // Relative paths in file: URLs, which the URL parser would silently root at / (issue 10).
      'file:sum',
      'file:./sum',
      'file:../sum',
      'file:sum/dir',
      's3://',
      's3:///prefix',
      's3://UPPER/p',
      's3://b/p?unknown=1',
      's3://bb/p?forcePathStyle=yes',
      's3://bb/p?endpoint=notaurl',
      's3://bb/p?sse=DES',
      's3://bb/p?region=',
      's3://user:secret@bb/p',
      's3://bb/../p',
      '/dir\nwith-newline',
    ];
    for (const url of bad) assert.throws(() => parseStoreUrl(url), (e) => isBackupError(e, 'INVALID_URL'), JSON.stringify(url));
  });

  test('openStore gives a filesystem store for a path without loading S3 code', async () => {
    const store = await openStore('/tmp/pgsb-url-test');
    assert.ok(store instanceof FilesystemSummaryStore);
  });
});
