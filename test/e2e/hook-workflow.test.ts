// The seed's workflow end to end, through the CLI as a backup program would run it: pgbench keeps
// writing; `pre` -> tar of the live data directory (its own process) -> `post`; then a restore by
// hand from the tarball, the summary in the sink and the WAL archive, and the pgbench invariant.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { chownToServerUser, tarDataDirectory, TestCluster, testMajors, untarDataDirectory } from '../harness/index.js';
import { CliSandbox, explain } from '../cli/cli-helpers.js';

const SELECTED = testMajors();
// PostgreSQL 15 (pg_backup_start/stop) and one major of the older API (pg_start_backup/pg_stop_backup).
const PRE_15 = [13, 14, 12, 11, 10].find((m) => SELECTED.includes(m));
const WORKFLOW_MAJORS: { readonly major: number | undefined; readonly wanted: string }[] = [
  { major: SELECTED.includes(15) ? 15 : undefined, wanted: 'PostgreSQL 15' },
  { major: PRE_15, wanted: 'PostgreSQL major before 15' },
];

async function invariant(cluster: TestCluster): Promise<{ accounts: string; history: string; transactions: number }> {
  const [row] = await cluster.query<{ accounts: string; history: string; transactions: number }>(
    `SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts,
            (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history,
            (SELECT count(*) FROM pgbench_history)::int AS transactions`,
  );
  return row!;
}

describe('the hook workflow end to end: pre, tar while pgbench writes, post, restore by hand', () => {
  for (const { major, wanted } of WORKFLOW_MAJORS) {
    test(`${major === undefined ? wanted : `PostgreSQL ${major}`}: the restored copy is consistent and the pgbench invariant holds`, async (t) => {
      if (major === undefined) return t.skip(`PGSB_TEST_MAJORS=${SELECTED.join(',')} does not select a ${wanted}`);
      const box = await CliSandbox.create();
      const source = await TestCluster.start({ major, name: `e2e${major}` });
      let restored: TestCluster | undefined;
      let restoreBase: string | undefined;
      try {
        const init = await source.client('pgbench', ['-i', '-q', '-s', '5', 'postgres']);
        assert.equal(init.code, 0, init.stderr);
        const load = source.client('pgbench', ['-n', '-c', '2', '-T', '15', 'postgres']);
        await delay(1500);

        const id = `e2e-pg${major}-${Date.now()}`;
        const sinks = [box.sink('summaries-local'), box.sink('summaries-second')];
        const pre = await box.run(['pre', '--id', id, ...sinks.flatMap((s) => ['--sink', s]), '--dbname', source.connectionString, '--fast']);
        assert.equal(pre.code, 0, explain(pre));
        assert.ok(pre.eofAfterExitMs < 1000, `pre's output reached EOF ${pre.eofAfterExitMs} ms after it exited`);
        assert.match(pre.stdout, new RegExp(`^backup ${id} started$`, 'm'));
        const [atStart] = await source.query<{ n: number }>('SELECT count(*)::int AS n FROM pgbench_history');

        const tarball = join(box.base, 'data.tar');
        await tarDataDirectory(source, tarball);

        const post = await box.run(['post', '--id', id, '--json']);
        assert.equal(post.code, 0, explain(post));
        assert.deepEqual(post.json!.locations, sinks.map((s) => `file://${s}/${id}/`));
        const stopWalFile = post.json!.stopWalFile as string;
        assert.ok((await readdir(source.archiveDir)).includes(stopWalFile), `${stopWalFile} is archived when post returns`);
        const bench = await load;
        assert.equal(bench.code, 0, bench.stderr);

        // Restore by hand: untar, the label from the sink, an empty pg_wal, recovery from the archive.
        const dataDir = await untarDataDirectory(tarball);
        restoreBase = dirname(dataDir);
        await copyFile(join(sinks[1]!, id, 'backup_label'), join(dataDir, 'backup_label'));
        const spcmap = join(sinks[1]!, id, 'tablespace_map');
        await copyFile(spcmap, join(dataDir, 'tablespace_map')).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error; // no tablespaces: no map
        });
        await rm(join(dataDir, 'pg_wal'), { recursive: true, force: true });
        await mkdir(join(dataDir, 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
        const restoreCommand = `restore_command = 'cp ${source.archiveDir}/%f "%p"'\n`;
        if (major >= 12) {
          await writeFile(join(dataDir, 'recovery.signal'), '');
          await writeFile(join(dataDir, 'postgresql.auto.conf'), restoreCommand, { flag: 'a' });
        } else {
          await writeFile(join(dataDir, 'recovery.conf'), restoreCommand);
        }
        await chownToServerUser(dataDir);
        restored = await TestCluster.start({ major, existingDataDir: dataDir, name: `e2e${major}-restored` });
        const deadline = Date.now() + 120_000;
        for (;;) {
          const [row] = await restored.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
          if (!row!.r) break;
          assert.ok(Date.now() < deadline, `recovery did not end within 120 s:\n${(await restored.log()).slice(-3000)}`);
          await delay(200);
        }
        const log = await restored.log();
        assert.match(log, /consistent recovery state reached at/);
        assert.match(log, new RegExp(`restored log file "${stopWalFile}" from archive`));

        const after = await invariant(restored);
        assert.equal(after.accounts, after.history, 'sum(pgbench_accounts.abalance) = sum(pgbench_history.delta)');
        assert.ok(after.transactions >= atStart!.n, `the restored copy has the ${atStart!.n} transactions done before pre returned (has ${after.transactions})`);
        assert.ok(after.transactions > 0);
        t.diagnostic(`backup ${id}: ${atStart!.n} pgbench transactions before the copy, ${after.transactions} in the restored copy, WAL ${post.json!.startWalFile} .. ${stopWalFile}`);
      } finally {
        await restored?.destroy();
        if (restoreBase) await rm(restoreBase, { recursive: true, force: true });
        await source.destroy();
        await box.destroy();
      }
    });
  }
});
