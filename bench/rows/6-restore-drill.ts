// Row 6: the restore drill (drill()) vs the same restore by hand (cp, label, signal, start, wait).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drill, FilesystemSummaryStore } from '../../src/index.js';
import { chownToServerUser, clientBin, run, runOk, takeSplitBackup, TestCluster, untarDataDirectory } from '../../test/harness/index.js';
import { MAJOR, RAW_SQL, timed, type BenchContext, type BenchRow } from '../harness.js';

export async function restoreDrill({ work }: BenchContext): Promise<BenchRow[]> {
  const cluster = await TestCluster.start({ major: MAJOR, name: 'bench-drill' });
  try {
    await cluster.client('pgbench', ['-i', '-q', '-s', '5', 'postgres']);
    const store = new FilesystemSummaryStore({ directory: join(work, 'drill-summaries') });
    const summary = await takeSplitBackup(cluster, { id: 'drill-bench', sinks: [store], tarball: join(work, 'drill.tar'), spoolDirectory: join(work, 'drill-spool') });
    const copy = await untarDataDirectory(join(work, 'drill.tar'), await mkdtemp(join(tmpdir(), 'pgsb-bench-copy-')));
    const ours: number[] = [];
    const manual: number[] = [];
    for (let i = 0; i < 3; i++) {
      ours.push(await timed(() => drill({ id: 'drill-bench', store, dataCopy: copy, walArchive: cluster.archiveDir, binDir: cluster.binDir })));
      manual.push(
        await timed(async () => {
          const scratch = await mkdtemp(join(tmpdir(), 'pgsb-bench-manual-'));
          const pgdata = join(scratch, 'data');
          await runOk('cp', ['-a', copy, pgdata]);
          await writeFile(join(pgdata, 'backup_label'), summary.labelFile);
          await writeFile(join(pgdata, 'recovery.signal'), '');
          await writeFile(join(pgdata, 'postgresql.auto.conf'), `restore_command = 'cp ${cluster.archiveDir}/%f %p'\n`, { flag: 'a' });
          await chownToServerUser(scratch);
          const opts = `-c listen_addresses='' -c unix_socket_directories='${scratch}' -c archive_mode=off -c port=5432`;
          await runOk(join(cluster.binDir, 'pg_ctl'), ['-D', pgdata, '-l', join(scratch, 'log'), '-o', opts, '-w', 'start'], { asServer: true });
          for (;;) {
            const r = await run(clientBin('psql'), ['-X', '-A', '-t', '-h', scratch, '-p', '5432', '-U', 'postgres', '-d', 'postgres', '-c', RAW_SQL.inRecovery]);
            if (r.stdout.trim() === 'f') break;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          await runOk(join(cluster.binDir, 'pg_ctl'), ['-D', pgdata, '-m', 'immediate', '-w', 'stop'], { asServer: true });
          await rm(scratch, { recursive: true, force: true });
        }),
      );
    }
    await rm(join(copy, '..'), { recursive: true, force: true });
    return [{ name: '6. restore drill (drill()) vs the same restore by hand', unit: 'ms', ours, baseline: manual, target: 1.05 }];
  } finally {
    await cluster.destroy();
  }
}
