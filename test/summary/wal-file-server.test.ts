import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BackupSession, MemorySummaryStore, stopWalFileName, walFileName } from '../../src/index.js';
import { TestCluster, testMajors } from '../harness/index.js';

const MiB = 1024 * 1024;

function probes(segmentSize: number): string[] {
  const seg = BigInt(segmentSize);
  const at = (n: bigint): string => `${(n >> 32n).toString(16).toUpperCase()}/${(n & 0xffffffffn).toString(16).toUpperCase()}`;
  // Inside a segment, on a boundary, one byte either side of it, and across a log id.
  return [at(3n * seg + 0x28n), at(3n * seg), at(3n * seg - 1n), at(3n * seg + 1n), '1/0', '1/1', 'A/FFFFFFFF', at(0x100000000n - seg)];
}

/** pg_walfile_name() names the segment before a boundary LSN until 16, and the one after from 17 on. */
async function checkAgainstServer(cluster: TestCluster, segmentSize: number): Promise<void> {
  for (const lsn of probes(segmentSize)) {
    const [row] = await cluster.query<{ name: string }>('SELECT pg_walfile_name($1::pg_lsn) AS name', [lsn]);
    const ours = cluster.major >= 17 ? walFileName(1, lsn, segmentSize) : stopWalFileName(1, lsn, segmentSize);
    assert.equal(ours, row!.name, `PostgreSQL ${cluster.major}, ${segmentSize / MiB} MiB segments, LSN ${lsn}`);
  }
}

describe('WAL file names match pg_walfile_name() on real servers', () => {
  for (const major of testMajors()) {
    test(`PostgreSQL ${major}, 16 MiB segments`, async () => {
      const cluster = await TestCluster.start({ major, archive: false });
      try {
        await checkAgainstServer(cluster, 16 * MiB);
      } finally {
        await cluster.destroy();
      }
    });
  }

  const major = Math.max(...testMajors());
  for (const sizeMb of [1, 64]) {
    test(`PostgreSQL ${major}, initdb --wal-segsize=${sizeMb}: names match, and a backup reads and records the size`, async (t) => {
      if (major < 11) return t.skip('--wal-segsize needs 11+');
      const cluster = await TestCluster.start({ major, walSegmentSizeMb: sizeMb });
      const spool = await mkdtemp(join(tmpdir(), 'pgsb-spool-'));
      try {
        await checkAgainstServer(cluster, sizeMb * MiB);
        const session = new BackupSession({ id: `segsize-${sizeMb}`, connection: cluster.connectionString, sinks: [new MemorySummaryStore()], spoolDirectory: spool, fast: true });
        await session.start();
        const { summary } = await session.stop();
        assert.equal(summary.walSegmentSize, sizeMb * MiB);
        assert.ok((await readdir(cluster.archiveDir)).includes(summary.stopWalFile));
      } finally {
        await cluster.destroy();
        await rm(spool, { recursive: true, force: true });
      }
    });
  }
});
