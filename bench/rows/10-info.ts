// Row 10: backupInfo() (what `info --wal-archive` runs) over 1,000 summaries and 10,000 segments.
import { backupInfo } from '../../src/index.js';
import { timed, type BenchContext, type BenchRow } from '../harness.js';
import { lifecycleFixture, SEGMENTS, SUMMARIES, type Catalogue } from '../lifecycle-fixture.js';

async function measure(catalogue: Catalogue, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    times.push(
      await timed(async () => {
        const report = await backupInfo({ store: catalogue.store, walArchive: catalogue.archive });
        const cluster = report.clusters[0];
        if (cluster?.backups.length !== SUMMARIES || report.archive?.timelines[0]?.segments !== SEGMENTS || !cluster.window) throw new Error('info did not see the whole catalogue');
      }),
    );
  }
  return times;
}

export async function infoRows({ work }: BenchContext): Promise<BenchRow[]> {
  const { fs, s3 } = await lifecycleFixture(work);
  return [
    { name: `10. info over ${SUMMARIES} summaries and ${SEGMENTS} segments (filesystem)`, unit: 'ms', ours: await measure(fs, 5), target: 2000, note: 'target ours: the issue gives none' },
    { name: `10. info over ${SUMMARIES} summaries and ${SEGMENTS} segments (S3: s3rver on loopback)`, unit: 'ms', ours: await measure(s3, 3), target: 15_000, note: 'target ours: the issue gives none' },
  ];
}
