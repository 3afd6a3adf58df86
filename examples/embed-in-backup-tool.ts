// A small backup tool built on the library: start the backup, stream PGDATA as a tar (leaving out
// what a base backup must not contain) into a file, stop, and save the summary apart from the tar.
// Run: node --import tsx examples/embed-in-backup-tool.ts CONNSTR PGDATA OUT.tar SUMMARY_DIR
// Needs GNU tar, and read access to PGDATA (run as the server's OS user, or root).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BackupSession, copyExclusions, FilesystemSummaryStore } from '../src/index.js';

const [connection, pgdata, output, summaries] = process.argv.slice(2);
if (!connection || !pgdata || !output || !summaries) {
  console.error('usage: embed-in-backup-tool.ts CONNSTR PGDATA OUT.tar SUMMARY_DIR');
  process.exit(2);
}

/** Streams `tar -C pgdata -cf - .` into `file`, with the exclusions; resolves with tar's exit code. */
async function tarInto(file: string, excludeFile: string): Promise<number> {
  const tar = spawn('tar', ['-C', pgdata!, '-cf', '-', '--warning=no-file-changed', '--warning=no-file-removed', `--exclude-from=${excludeFile}`, '.'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number>((ok, fail) => {
    tar.once('error', fail);
    tar.once('close', (code) => ok(code ?? 1));
  });
  await pipeline(tar.stdout, createWriteStream(file));
  return exited;
}

const session = new BackupSession({
  id: `tool-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`,
  connection,
  sinks: [new FilesystemSummaryStore({ directory: resolve(summaries) })],
  fast: true,
});

const started = await session.start();
console.log(`started ${started.id} at ${started.startLsn}`);
const work = await mkdtemp(join(tmpdir(), 'pgsb-tool-'));
try {
  // The exclusions depend on the server's major, which start() reported.
  const excludeFile = join(work, 'excludes.tar');
  await writeFile(excludeFile, copyExclusions({ major: Math.floor(started.serverVersion / 10000), format: 'tar' }));
  const code = await tarInto(resolve(output), excludeFile);
  // tar exits 1 when a file changed while it was read: expected on a live cluster, WAL replay fixes it.
  if (code > 1) throw new Error(`tar failed with exit code ${code}`);
} catch (error) {
  await session.abort(); // never leave the server in backup mode after a failed copy
  throw error;
} finally {
  await rm(work, { recursive: true, force: true });
}
const { summary, receipts } = await session.stop();
console.log(`data copy: ${resolve(output)}`);
console.log(`stopped at ${summary.stopLsn}; restore needs WAL ${summary.startWalFile}..${summary.stopWalFile} from the archive`);
for (const receipt of receipts) console.log(`summary: ${receipt.location}`);
