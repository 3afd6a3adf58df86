// Row 1: BackupSession start+stop vs a raw psql session making the same two calls (bare, and saving
// stop's output with fsync, which is what the library must do before anything else).
import { join } from 'node:path';
import { BackupSession, MemorySummaryStore } from '../../src/index.js';
import { clientBin, runOk } from '../../test/harness/index.js';
import { PAIRS, psqlArgs, RAW_SQL, timed, type BenchContext, type BenchRow } from '../harness.js';

export async function libraryOverhead({ work, cluster: shared }: BenchContext): Promise<BenchRow[]> {
  const cluster = await shared();
  const ours: number[] = [];
  const bare: number[] = [];
  const durable: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    // Interleaved, so drift on the machine hits both alike.
    ours.push(
      await timed(async () => {
        const session = new BackupSession({ id: `bench-${i}`, connection: cluster.connectionString, sinks: [new MemorySummaryStore()], spoolDirectory: join(work, 'spool'), fast: true, waitForArchive: false });
        await session.start();
        await session.stop();
      }),
    );
    bare.push(await timed(() => runOk(clientBin('psql'), [...psqlArgs(cluster), '-c', RAW_SQL.start, '-c', RAW_SQL.stop])));
    const out = join(work, `label-${i}`);
    durable.push(await timed(() => runOk('sh', ['-c', `"$0" "$@" > ${out} && sync ${out}`, clientBin('psql'), ...psqlArgs(cluster), '-c', RAW_SQL.start, '-c', RAW_SQL.stop])));
  }
  return [
    { name: '1. library start+stop vs raw psql saving stop output with fsync', unit: 'ms', ours, baseline: durable, target: 1.05 },
    { name: '1. library start+stop vs bare raw psql (saves nothing)', unit: 'ms', ours, baseline: bare, target: 1.05 },
  ];
}
