// examples/filesystem-sink.ts and examples/s3-sink.ts, run as a user would, against a real cluster
// and a real S3-protocol server.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { FilesystemSummaryStore } from '../../src/index.js';
import { S3SummaryStore } from '../../src/stores/s3.js';
import { run, TestCluster, smokeMajor } from '../harness/index.js';
import { S3RVER_CREDENTIALS, TestS3Server } from '../harness/s3-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Examples are smoke tests: one major (the library and CLI are tested on every major elsewhere).
for (const major of [smokeMajor()]) {
  describe(`sink examples on PostgreSQL ${major}`, () => {
    let cluster: TestCluster;
    let work: string;
    before(async () => {
      cluster = await TestCluster.start({ major, name: `ex-sinks${major}` });
      work = await mkdtemp(join(tmpdir(), 'pgsb-ex-sinks-'));
    });
    after(async () => {
      await cluster?.destroy();
      await rm(work, { recursive: true, force: true });
    });

    // The spool goes into the work dir, not root's home.
    const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, XDG_STATE_HOME: join(work, 'state'), NODE_TEST_CONTEXT: undefined, ...extra });

    test('examples/filesystem-sink.ts takes a backup and its summary lands in the directory given', async () => {
      const dir = join(work, 'summaries');
      const result = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/filesystem-sink.ts'), cluster.connectionString, dir], { cwd: ROOT, env: env() });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const id = /started (\S+) at/.exec(result.stdout)?.[1];
      assert.ok(id, result.stdout);
      assert.match(result.stdout, new RegExp(`summary: .*${id}`));
      const summary = await new FilesystemSummaryStore({ directory: dir }).get(id);
      assert.match(summary.labelFile, new RegExp(`LABEL: ${id}`));
    });

    test('examples/s3-sink.ts takes a backup and its summary lands in the bucket', async (t) => {
      const s3 = await TestS3Server.start('pg-backups');
      t.after(() => s3.destroy());
      const result = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/s3-sink.ts'), cluster.connectionString], {
        cwd: ROOT,
        env: env({ S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_PREFIX: 'pg/summaries', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey }),
      });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const id = /started (\S+) at/.exec(result.stdout)?.[1];
      assert.ok(id, result.stdout);
      const summary = await new S3SummaryStore(s3.storeOptions('pg/summaries')).get(id);
      assert.match(summary.labelFile, new RegExp(`LABEL: ${id}`));
    });
  });
}
