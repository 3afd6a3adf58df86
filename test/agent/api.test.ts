// The `pg-split-backup/agent` entry point, driven in-process as a Node backup tool would: real
// holders against a real server, and each call's `signal` ending only the caller's wait.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { abortBackup, backupStatus, listRunning, startBackup, stopBackup, type StartBackupOptions } from '../../src/agent/index.js';
import { FilesystemSummaryStore, isBackupError } from '../../src/index.js';
import { alive, waitFor, type CliSandbox } from '../cli/cli-helpers.js';
import { HOOK_MAJOR, useHookCluster } from '../cli/hook-fixture.js';

describe(`pg-split-backup/agent on PostgreSQL ${HOOK_MAJOR}`, () => {
  const hooks = useHookCluster();
  const options = (box: CliSandbox, id: string): StartBackupOptions => ({ id, sinks: [box.sink()], dbname: hooks.dbname, fast: true, runtimeDir: box.runtimeDir, env: box.env() });

  test('startBackup, listRunning, backupStatus, stopBackup: the held backup is listed, then stopped with its summary in the sink', async (t) => {
    const box = await hooks.sandbox(t);
    const held = await startBackup(options(box, 'api-stop'));
    assert.equal(held.id, 'api-stop');
    assert.ok(alive(held.pid));
    assert.equal(await hooks.backends('api-stop'), 1);
    const running = await listRunning({ runtimeDir: box.runtimeDir });
    assert.deepEqual(running.map((b) => [b.id, b.pid, b.state]), [['api-stop', held.pid, 'running']]);
    assert.equal((await backupStatus('api-stop', { runtimeDir: box.runtimeDir })).startLsn, held.startLsn);
    const stopped = await stopBackup('api-stop', { runtimeDir: box.runtimeDir });
    assert.equal(stopped.alreadyStopped, false);
    assert.equal(stopped.summary.startLsn, held.startLsn);
    assert.equal((await new FilesystemSummaryStore({ directory: box.sink() }).get('api-stop')).stopLsn, stopped.summary.stopLsn);
    assert.ok(await waitFor(() => !alive(held.pid)));
    assert.deepEqual(await listRunning({ runtimeDir: box.runtimeDir }), []);
  });

  test('a stopBackup whose signal fires rejects with the reason; the holder finishes the stop, and the next stopBackup reports it', async (t) => {
    const box = await hooks.sandbox(t);
    const held = await startBackup(options(box, 'api-signal'));
    const controller = new AbortController();
    const stopping = stopBackup('api-signal', { runtimeDir: box.runtimeDir, signal: controller.signal });
    setImmediate(() => controller.abort(new Error('the backup program gave up')));
    await assert.rejects(stopping, { message: 'the backup program gave up' });
    const outcome = await stopBackup('api-signal', { runtimeDir: box.runtimeDir });
    assert.equal(outcome.id, 'api-signal');
    assert.equal((await new FilesystemSummaryStore({ directory: box.sink() }).get('api-signal')).stopLsn, outcome.summary.stopLsn);
    assert.ok(await waitFor(() => !alive(held.pid)));
  });

  test('a signal that has already fired: startBackup starts nothing, the other calls reject at once', async (t) => {
    const box = await hooks.sandbox(t);
    const signal = AbortSignal.abort();
    await assert.rejects(startBackup({ ...options(box, 'api-aborted'), signal }), (e) => isBackupError(e, 'ABORTED'));
    assert.deepEqual(await box.runtimeFiles(), []);
    assert.equal(await hooks.backends('api-aborted'), 0);
    const held = await startBackup(options(box, 'api-aborted'));
    await assert.rejects(stopBackup('api-aborted', { runtimeDir: box.runtimeDir, signal }), (e) => isBackupError(e, 'ABORTED'));
    await assert.rejects(listRunning({ runtimeDir: box.runtimeDir, id: 'api-aborted', signal }), (e) => isBackupError(e, 'ABORTED'));
    assert.ok(alive(held.pid), 'the holder goes on');
    const aborted = await abortBackup('api-aborted', { runtimeDir: box.runtimeDir, reason: 'test over' });
    assert.deepEqual(aborted, { id: 'api-aborted', reason: 'test over' });
    assert.ok(await waitFor(() => !alive(held.pid)));
    await assert.rejects(stopBackup('api-aborted', { runtimeDir: box.runtimeDir }), (e) => isBackupError(e, 'BACKUP_ABORTED') && /test over/.test(e.message));
  });
});
