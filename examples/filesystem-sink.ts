// Embed a backup in your own program, with the summary saved to a local directory.
// Run: node --import tsx examples/filesystem-sink.ts [CONNSTR] [SUMMARY_DIR]
//   CONNSTR defaults to $DATABASE_URL (else the PG* variables); SUMMARY_DIR to ./pg-summaries.
import { resolve } from 'node:path';
import { BackupSession, FilesystemSummaryStore } from '../src/index.js';

const connection = process.argv[2] ?? process.env.DATABASE_URL;
const summaries = resolve(process.argv[3] ?? 'pg-summaries');

const session = new BackupSession({
  id: `fs-example-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`,
  connection: connection ?? {}, // {}: node-postgres reads PGHOST, PGUSER... from the environment
  sinks: [new FilesystemSummaryStore({ directory: summaries })],
  fast: true, // an immediate checkpoint: the example should not wait for a spread one
});

const started = await session.start();
console.log(`started ${started.id} at ${started.startLsn} (WAL file ${started.startWalFile})`);
try {
  // The copy step goes here: your backup program copies PGDATA while the session holds the backup
  // (see embed-in-backup-tool.ts for a tar of PGDATA with the copy exclusions).
} catch (error) {
  await session.abort(); // a failed copy must not leave the server in backup mode until maxHold
  throw error;
}
const { summary, receipts } = await session.stop();
console.log(`stopped at ${summary.stopLsn} (WAL files ${summary.startWalFile}..${summary.stopWalFile})`);
for (const receipt of receipts) console.log(`summary: ${receipt.location}`);
