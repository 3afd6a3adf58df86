// Embed a backup in your own program, with the summary saved to S3 (or any S3-compatible store).
// Run: S3_BUCKET=backups [S3_PREFIX=pg/summaries] [S3_ENDPOINT=http://127.0.0.1:9000] \
//      node --import tsx examples/s3-sink.ts [CONNSTR]
// Credentials and region come from the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_REGION, ...).
// In an installed package the import is `pg-split-backup/s3`.
import { BackupSession } from '../src/index.js';
import { S3SummaryStore } from '../src/stores/s3.js';

const connection = process.argv[2] ?? process.env.DATABASE_URL;
const bucket = process.env.S3_BUCKET;
if (!bucket) throw new Error('Set S3_BUCKET to the bucket that receives the summaries.');
const endpoint = process.env.S3_ENDPOINT;

const store = new S3SummaryStore({
  bucket,
  prefix: process.env.S3_PREFIX ?? 'pg-summaries',
  // A self-hosted endpoint (MinIO, Ceph, s3rver) usually needs path-style addressing.
  ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
});

const session = new BackupSession({
  id: `s3-example-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`,
  connection: connection ?? {}, // {}: node-postgres reads PGHOST, PGUSER... from the environment
  sinks: [store],
  fast: true,
});

const started = await session.start();
console.log(`started ${started.id} at ${started.startLsn}`);
try {
  // The copy step goes here: your backup program copies PGDATA while the session holds the backup.
} catch (error) {
  await session.abort();
  throw error;
}
const { summary, receipts } = await session.stop();
console.log(`stopped at ${summary.stopLsn}`);
for (const receipt of receipts) console.log(`summary: ${receipt.location}`);
