// Row 11: expire({ dryRun: true }) (what `expire --dry-run` runs) over 1,000 summaries and 10,000 segments.
import { expire } from '../../src/index.js';
import { timed, type BenchContext, type BenchRow } from '../harness.js';
import { lifecycleFixture, SEGMENTS, SUMMARIES, type Catalogue } from '../lifecycle-fixture.js';

async function measure(catalogue: Catalogue, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    times.push(
      await timed(async () => {
        const report = await expire({ store: catalogue.store, walArchive: catalogue.archive, policy: { keepLast: 100 }, dryRun: true });
        if (report.plan.remove.length !== SUMMARIES - 100 || (report.plan.wal?.remove.length ?? 0) < SEGMENTS * 0.8) throw new Error('the dry run did not plan over the whole catalogue');
      }),
    );
  }
  return times;
}

export async function expireDryRunRows({ work }: BenchContext): Promise<BenchRow[]> {
  const { fs, s3 } = await lifecycleFixture(work);
  return [
    { name: `11. expire --dry-run (keep-last 100) over ${SUMMARIES} summaries and ${SEGMENTS} segments (filesystem)`, unit: 'ms', ours: await measure(fs, 5), target: 2000, note: 'target ours: the issue gives none' },
    { name: `11. expire --dry-run (keep-last 100) over ${SUMMARIES} summaries and ${SEGMENTS} segments (S3: s3rver on loopback)`, unit: 'ms', ours: await measure(s3, 3), target: 15_000, note: 'target ours: the issue gives none' },
  ];
}
