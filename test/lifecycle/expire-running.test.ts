// expire and a backup still running on this host: pre has run, post has not, so its summary is not
// in the store yet. Its WAL must outlive an expire that keeps only a newer, posted backup (real
// server, real holders, the CLI as cron runs it).
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startBackup, stopBackup, type StartBackupOptions } from '../../src/agent/index.js';
import { FilesystemSummaryStore, FilesystemWalArchive, verifyWal } from '../../src/index.js';
import { runCli } from '../../src/cli/main.js';
import type { CliSandbox } from '../cli/cli-helpers.js';
import { HOOK_MAJOR, useHookCluster } from '../cli/hook-fixture.js';

describe(`expire with a backup running on PostgreSQL ${HOOK_MAJOR}`, () => {
  const hooks = useHookCluster();
  const options = (box: CliSandbox, id: string): StartBackupOptions => ({ id, sinks: [box.sink()], dbname: hooks.dbname, fast: true, runtimeDir: box.runtimeDir, env: box.env() });
  async function switchAndArchive(): Promise<void> {
    const [row] = await hooks.cluster.query<{ f: string }>("SELECT pg_walfile_name(pg_switch_wal()) AS f FROM (SELECT pg_create_restore_point('x')) AS r");
    for (let i = 0; i < 300 && !(await readdir(hooks.cluster.archiveDir)).includes(row!.f); i++) await delay(100);
  }

  test('a backup held between pre and post keeps its WAL through expire --keep-last 1; once posted it verifies complete', async (t) => {
    const box = await hooks.sandbox(t);
    const long = await startBackup(options(box, 'exp-long-copy'));
    // WAL between the running backup's start and the newer backup's: what expire used to delete.
    for (let i = 0; i < 3; i++) await switchAndArchive();
    await startBackup(options(box, 'exp-newer'));
    const newer = await stopBackup('exp-newer', { runtimeDir: box.runtimeDir });
    await switchAndArchive();
    let out = '';
    const code = await runCli(['expire', '--store', box.sink(), '--wal-archive', hooks.cluster.archiveDir, '--keep-last', '1', '--runtime-dir', box.runtimeDir, '--json'], {
      stdout: (text) => (out += text),
      stderr: (text) => (out += text),
    });
    assert.equal(code, 0, out);
    const report = JSON.parse(out) as { plan: { wal: { running: string[]; remove: { name: string }[] } } };
    assert.deepEqual(report.plan.wal.running, ['exp-long-copy']);
    for (const { name } of report.plan.wal.remove) assert.ok(name.slice(0, 24) < long.startWalFile, `${name} is before the running backup's start ${long.startWalFile}`);
    assert.ok(newer.summary.startWalFile > long.startWalFile, 'the newer backup started later: its own range would not protect the running one');

    await stopBackup('exp-long-copy', { runtimeDir: box.runtimeDir });
    const posted = await new FilesystemSummaryStore({ directory: box.sink() }).get('exp-long-copy');
    const check = await verifyWal(posted, new FilesystemWalArchive({ directory: hooks.cluster.archiveDir }));
    assert.deepEqual(check.missing, [], 'the running backup restores once posted');
    assert.equal(check.complete, true);
  });
});
