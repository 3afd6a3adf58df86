// The fault matrix of issue #5, numbered as there, each driven through the CLI with real
// processes against a real server: what each fault must leave behind and what post must say.
// Fault 7 (disk full while spooling) is in disk-full.test.ts.
import assert from 'node:assert/strict';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { withHolderFault } from '../agent/holder-faults.js';
import { FilesystemSummaryStore } from '../../src/stores/filesystem.js';
import { S3SummaryStore } from '../../src/stores/s3.js';
import { BlackholeProxy } from '../harness/index.js';
import { S3RVER_CREDENTIALS, TestS3Server } from '../harness/s3-server.js';
import { alive, explain, waitFor } from '../cli/cli-helpers.js';
import { ABORT_WARNING, HOOK_MAJOR, useHookCluster } from '../cli/hook-fixture.js';

const S3_ENV = { AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' };

function s3Url(s3: TestS3Server, prefix: string): string {
  return `s3://${s3.bucket}/${prefix}?endpoint=${s3.endpoint}&region=us-east-1&forcePathStyle=true`;
}

describe(`the fault matrix on PostgreSQL ${HOOK_MAJOR}`, () => {
  const hooks = useHookCluster();
  const { sandbox, pre, backends } = hooks;

  test('fault 1: kill -9 of the holder: the server ends the backup, post exits 3 naming the dead holder, the stale socket and lock are cleaned up, the ID can start again', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-killed';
    const { pid } = await pre(box, id);
    const warnings = async (): Promise<number> => (await hooks.cluster.log()).split('\n').filter((line) => ABORT_WARNING.test(line)).length;
    const warningsBefore = await warnings();
    process.kill(pid, 'SIGKILL');
    assert.ok(await waitFor(() => !alive(pid)));
    assert.ok(await waitFor(async () => (await backends(id)) === 0), 'the held backend is gone from pg_stat_activity');
    assert.ok(await waitFor(async () => (await warnings()) > warningsBefore), 'the server log says it aborted the backup');
    // What a killed holder leaves: socket, lock and a record saying running.
    assert.deepEqual(await box.runtimeFiles(), [`${id}.json`, `${id}.lock`, `${id}.log`, `${id}.sock`]);
    const post = await box.run(['post', '--id', id]);
    assert.equal(post.code, 3, explain(post));
    assert.match(post.stderr, new RegExp(`BACKUP_ABORTED: Backup ${id} is not valid: it was lost at .*: the holder process \\(pid ${pid}\\) ended without stopping the backup`));
    assert.deepEqual(await box.runtimeFiles(), [`${id}.json`, `${id}.log`]);
    const again = await box.run(['post', '--id', id, '--json']);
    assert.equal(again.code, 3, explain(again));
    assert.equal(again.json!.error.code, 'BACKUP_ABORTED');
    assert.equal(again.json!.error.details.state, 'lost');
    assert.deepEqual(await readdir(box.sink()).catch(() => []), []);

    // Killed again, this time pre itself meets the stale lock and socket.
    const second = await pre(box, id);
    process.kill(second.pid, 'SIGKILL');
    assert.ok(await waitFor(() => !alive(second.pid)));
    const third = await pre(box, id);
    assert.ok(alive(third.pid));
    const abort = await box.run(['abort', '--id', id]);
    assert.equal(abort.code, 0, explain(abort));
  });

  test('fault 2: SIGTERM to the holder aborts the backup and leaves a tombstone; post exits 3', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-sigterm';
    const { pid } = await pre(box, id);
    process.kill(pid, 'SIGTERM');
    assert.ok(await waitFor(() => !alive(pid)));
    const post = await box.run(['post', '--id', id]);
    assert.equal(post.code, 3, explain(post));
    assert.match(post.stderr, /it was aborted at .*: the holder received SIGTERM/);
  });

  test('fault 3: pg_terminate_backend of the held session: the holder records it and exits; post exits 3 naming the reason', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-terminated';
    const { pid } = await pre(box, id);
    const [row] = await hooks.cluster.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [`pg-split-backup ${id}`]);
    assert.equal(row?.ok, true);
    assert.ok(await waitFor(() => !alive(pid)), 'the holder exits once its session is gone');
    assert.deepEqual(await box.runtimeFiles(), [`${id}.json`, `${id}.log`]);
    const status = await box.run(['status', '--id', id]);
    assert.equal(status.code, 3, explain(status));
    const post = await box.run(['post', '--id', id]);
    assert.equal(post.code, 3, explain(post));
    assert.match(post.stderr, /it was lost at .*terminating connection due to administrator command/);
  });

  test('fault 4: PostgreSQL restarted (fast) mid-backup: the holder records the lost session and exits; post exits 3 naming it', async (t) => {
    const box = await sandbox(t);
    const id = 'fault-restart';
    const { pid } = await pre(box, id, '--heartbeat', '1s');
    await hooks.cluster.restart('fast');
    assert.ok(await waitFor(() => !alive(pid), 15_000), 'the holder exits once its session is gone');
    const post = await box.run(['post', '--id', id, '--json']);
    assert.equal(post.code, 3, explain(post));
    assert.equal(post.json!.error.code, 'BACKUP_ABORTED');
    assert.equal(post.json!.error.details.state, 'lost');
    assert.match(post.json!.error.message, /terminating connection due to administrator command|connection|server/i);
    assert.deepEqual(await readdir(box.sink()).catch(() => []), []);
    assert.deepEqual(box.processes(), []);
    // The restarted server takes a new backup.
    await pre(box, 'fault-restart-after');
    const next = await box.run(['post', '--id', 'fault-restart-after']);
    assert.equal(next.code, 0, explain(next));
  });

  test('fault 5: the network path silently dropped (a proxy stops forwarding, sockets open): the holder notices within a few heartbeats; post exits 3', async (t) => {
    const box = await sandbox(t);
    const id = 'fault-network';
    const proxy = await BlackholeProxy.start(hooks.cluster.port);
    t.after(() => proxy.close());
    const viaProxy = `postgresql://postgres@127.0.0.1:${proxy.port}/postgres`;
    const run = await box.run(['pre', '--id', id, '--sink', box.sink(), '--dbname', viaProxy, '--fast', '--heartbeat', '1s', '--json']);
    assert.equal(run.code, 0, explain(run));
    const pid = run.json!.pid as number;
    proxy.drop();
    assert.ok(await waitFor(() => !alive(pid), 15_000), 'the holder gives the backup up');
    const post = await box.run(['post', '--id', id, '--json']);
    assert.equal(post.code, 3, explain(post));
    assert.equal(post.json!.error.code, 'BACKUP_ABORTED');
    assert.equal(post.json!.error.details.state, 'lost');
    assert.match(post.json!.error.message, /heartbeat/i);
    // The server side: once the connection really closes, the backup is gone there too.
    await proxy.close();
    assert.ok(await waitFor(async () => (await backends(id)) === 0, 20_000), 'no backend of the backup is left');
  });

  test('fault 6: every sink down at stop (S3 server stopped, sink directory unusable): retries, exit 4 with the spool path, a complete spooled summary, and post delivers it once the sinks are back', async (t) => {
    const box = await sandbox(t);
    const id = 'fault-sinks-down';
    const s3 = await TestS3Server.start();
    t.after(() => s3.destroy());
    const dir = box.sink();
    const url = s3Url(s3, 'summaries');
    const started = await box.run(['pre', '--id', id, '--sink', dir, '--sink', url, '--dbname', hooks.dbname, '--fast', '--json'], { env: S3_ENV });
    assert.equal(started.code, 0, explain(started));
    await s3.stop();
    // Root ignores directory modes, so "read-only" is a file where the sink directory should be.
    await writeFile(dir, 'not a directory');
    const post = await box.run(['post', '--id', id, '--json'], { env: S3_ENV });
    assert.equal(post.code, 4, explain(post));
    assert.equal(post.json!.error.code, 'SINK_FAILED');
    const spoolPath = join(box.spoolDir, id);
    assert.equal(post.json!.error.details.spoolPath, spoolPath);
    assert.equal(post.json!.error.details.failedSinks.length, 2);
    assert.match(post.stderr + post.json!.error.message, new RegExp(spoolPath));
    // The spooled copy is complete: it reads back with every checksum.
    const spooled = await new FilesystemSummaryStore({ directory: box.spoolDir }).get(id);
    assert.match(spooled.labelFile, new RegExp(`^LABEL: ${id}$`, 'm'));
    assert.equal(await backends(id), 0);
    // Still down: still 4, still spooled.
    const retry = await box.run(['post', '--id', id, '--json'], { env: S3_ENV });
    assert.equal(retry.code, 4, explain(retry));
    assert.equal(retry.json!.error.details.spoolPath, spoolPath);
    // Back up: post delivers to both, and the spool lets it go.
    await s3.startAgain();
    await rm(dir);
    const delivered = await box.run(['post', '--id', id, '--json'], { env: S3_ENV });
    assert.equal(delivered.code, 0, explain(delivered));
    assert.equal(delivered.json!.deliveredFromSpool, true);
    assert.equal(delivered.json!.stopLsn, spooled.stopLsn);
    assert.deepEqual(await new FilesystemSummaryStore({ directory: dir }).get(id), spooled);
    assert.deepEqual(await new S3SummaryStore(s3.storeOptions('summaries')).get(id), spooled);
    assert.deepEqual(await readdir(box.spoolDir), []);
  });

  test('fault 6, after a reboot emptied the runtime directory: post no longer knows the backup (exit 3), resend delivers the spooled summary (exit 0)', async (t) => {
    const box = await sandbox(t);
    const id = 'fault-resend';
    const dir = box.sink();
    await pre(box, id);
    await writeFile(dir, 'not a directory');
    const post = await box.run(['post', '--id', id, '--json']);
    assert.equal(post.code, 4, explain(post));
    await rm(box.runtimeDir, { recursive: true });
    const lost = await box.run(['post', '--id', id, '--json']);
    assert.equal(lost.code, 3, explain(lost));
    const stillDown = await box.run(['resend', '--sink', dir, '--json']);
    assert.equal(stillDown.code, 4, explain(stillDown));
    assert.deepEqual(await new FilesystemSummaryStore({ directory: box.spoolDir }).list(), [id]);
    await rm(dir);
    const resend = await box.run(['resend', '--sink', dir, '--json']);
    assert.equal(resend.code, 0, explain(resend));
    assert.deepEqual(resend.json!.delivered, [{ id, locations: [`file://${dir}/${id}/`] }]);
    assert.match((await new FilesystemSummaryStore({ directory: dir }).get(id)).labelFile, new RegExp(`^LABEL: ${id}$`, 'm'));
    assert.deepEqual(await readdir(box.spoolDir), []);
    const unknown = await box.run(['resend', '--id', id, '--sink', dir, '--json']);
    assert.equal(unknown.code, 3, explain(unknown));
    assert.equal(unknown.json!.error.code, 'NOT_FOUND');
  });

  test('fault 8: --max-hold 2s: the holder aborts the backup when it expires; post exits 3 naming the max hold', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-max-hold';
    const { pid, json } = await pre(box, id, '--max-hold', '2s');
    assert.equal(json!.maxHoldMs, 2000);
    assert.ok(await waitFor(() => !alive(pid), 15_000), 'the holder exits at max hold');
    // The backend leaves pg_stat_activity a moment after its client: waited for, as in faults 1-7.
    assert.ok(await waitFor(async () => (await backends(id)) === 0), 'the held backend is gone from pg_stat_activity');
    const post = await box.run(['post', '--id', id]);
    assert.equal(post.code, 3, explain(post));
    assert.match(post.stderr, /held longer than the maximum of 2 s \(maxHold\)/);
  });

  test('fault 9: a second post of a stopped backup prints the saved summary again and exits 0; concurrent posts get the same outcome', async (t) => {
    const box = await sandbox(t);
    await pre(box, 'hooks-twice');
    const [a, b] = await Promise.all([box.run(['post', '--id', 'hooks-twice', '--json']), box.run(['post', '--id', 'hooks-twice', '--json'])]);
    assert.equal(a.code, 0, explain(a));
    assert.equal(b.code, 0, explain(b));
    assert.equal(a.json!.stopLsn, b.json!.stopLsn);
    const again = await box.run(['post', '--id', 'hooks-twice', '--json']);
    assert.equal(again.code, 0, explain(again));
    assert.equal(again.json!.alreadyStopped, true);
    assert.equal(again.json!.stopLsn, a.json!.stopLsn);
    assert.deepEqual(again.json!.locations, [`file://${box.sink()}/hooks-twice/`]);
    const text = await box.run(['post', '--id', 'hooks-twice']);
    assert.equal(text.code, 0, explain(text));
    assert.match(text.stdout, /^backup hooks-twice had already been stopped/m);
    // A finished ID is not reused, neither through the record nor through the sink.
    const reuse = await box.run(['pre', '--id', 'hooks-twice', '--sink', box.sink(), '--dbname', hooks.dbname]);
    assert.equal(reuse.code, 2, explain(reuse));
    assert.match(reuse.stderr, /ALREADY_EXISTS: Backup hooks-twice was already taken/);
    const otherRuntime = await box.run(['pre', '--id', 'hooks-twice', '--sink', box.sink(), '--dbname', hooks.dbname], { runtimeDir: join(box.base, 'rt2') });
    assert.equal(otherRuntime.code, 2, explain(otherRuntime));
    assert.match(otherRuntime.stderr, /ALREADY_EXISTS: Sink file:\/\/.* already holds a summary for backup hooks-twice/);
    assert.deepEqual(box.processes(), []);
  });

  test('fault 9: two pre with the same ID at the same moment: one holds the backup, the other exits 2 ALREADY_EXISTS without harming it', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-race';
    const args = ['pre', '--id', id, '--sink', box.sink(), '--dbname', hooks.dbname, '--fast', '--json'];
    const runs = await Promise.all([box.run(args), box.run(args), box.run(args)]);
    const winners = runs.filter((r) => r.code === 0);
    assert.equal(winners.length, 1, runs.map(explain).join('\n'));
    for (const loser of runs.filter((r) => r.code !== 0)) {
      assert.equal(loser.code, 2, explain(loser));
      assert.equal(loser.json!.error.code, 'ALREADY_EXISTS', explain(loser));
    }
    const pid = winners[0]!.json!.pid as number;
    assert.ok(alive(pid));
    assert.deepEqual(box.processes(), [pid]);
    assert.deepEqual(await box.runtimeFiles(), [`${id}.json`, `${id}.lock`, `${id}.log`, `${id}.sock`]);
    const post = await box.run(['post', '--id', id]);
    assert.equal(post.code, 0, explain(post));
  });

  test('fault 9: post racing abort: exactly one wins, the other gets a clear answer, and the sink agrees with the winner', async (t) => {
    const box = await sandbox(t);
    const outcomes: string[] = [];
    for (let round = 0; round < 4; round++) {
      const id = `fault-post-abort-${round}`;
      await pre(box, id);
      const order = round % 2 === 0 ? (['post', 'abort'] as const) : (['abort', 'post'] as const);
      const runs = await Promise.all(order.map((command) => box.run([command, '--id', id, '--json'])));
      const post = runs[order.indexOf('post')]!;
      const abort = runs[order.indexOf('abort')]!;
      const stored = await new FilesystemSummaryStore({ directory: box.sink() }).has(id);
      if (post.code === 0) {
        outcomes.push('post');
        assert.notEqual(abort.code, 0, explain(abort));
        assert.ok(['INVALID_STATE', 'NOT_FOUND'].includes(abort.json!.error.code), explain(abort));
        assert.equal(stored, true);
      } else {
        outcomes.push('abort');
        assert.equal(abort.code, 0, explain(abort));
        assert.equal(post.code, 3, explain(post));
        assert.equal(post.json!.error.code, 'BACKUP_ABORTED');
        assert.equal(stored, false);
      }
      // Asked again, each command repeats the winner's outcome.
      const again = await box.run(['post', '--id', id]);
      assert.equal(again.code, post.code === 0 ? 0 : 3, explain(again));
      assert.equal(await backends(id), 0);
    }
    t.diagnostic(`winners: ${outcomes.join(', ')}`);
  });

  test('fault 10: a failing archive_command: post --archive-timeout gives up with exit 1 ARCHIVE_TIMEOUT saying the summary is saved but the WAL is not archived', async (t) => {
    const box = await sandbox(t);
    const id = 'fault-archiver';
    await hooks.cluster.setSettings({ archive_command: 'false' });
    const restoreArchiving = async (): Promise<void> => {
      await hooks.cluster.query('ALTER SYSTEM RESET archive_command');
      await hooks.cluster.reload();
    };
    t.after(restoreArchiving);
    await pre(box, id, '--archive-timeout', '3s');
    const post = await box.run(['post', '--id', id, '--json']);
    assert.equal(post.code, 1, explain(post));
    assert.equal(post.json!.error.code, 'ARCHIVE_TIMEOUT');
    assert.match(post.json!.error.message, /is saved, but WAL file [0-9A-F]{24} was not archived/);
    assert.match((await new FilesystemSummaryStore({ directory: box.sink() }).get(id)).labelFile, new RegExp(`^LABEL: ${id}$`, 'm'));
    const again = await box.run(['post', '--id', id, '--json']);
    assert.equal(again.code, 1, explain(again));
    assert.equal(again.json!.error.code, 'ARCHIVE_TIMEOUT');
    assert.equal(await backends(id), 0);
    // Fixed, the archiver catches up and the backup restores, as the error says.
    await restoreArchiving();
    const began = Date.now();
    const verified = await waitFor(async () => (await box.run(['verify', '--id', id, '--store', box.sink(), '--wal-archive', hooks.cluster.archiveDir])).code === 0, 90_000, 500);
    assert.ok(verified, 'once archive_command works, verify finds the WAL');
    t.diagnostic(`archived ${Date.now() - began} ms after archive_command was fixed`);
  });

  test('fault 11: the holder dies right after the stop, before any sink write: the spool has the summary; post delivers it and exits 1 HOLDER_FAILED until verify proves the WAL', async (t) => {
    const box = await sandbox(t);
    const id = 'fault-crash';
    const started = await box.run(['pre', '--id', id, '--sink', box.sink(), '--dbname', hooks.dbname, '--fast', '--json'], withHolderFault('kill-after-spool'));
    assert.equal(started.code, 0, explain(started));
    const pid = started.json!.pid as number;
    const post = await box.run(['post', '--id', id, '--json']);
    assert.ok(!alive(pid));
    assert.equal(post.code, 1, explain(post));
    assert.equal(post.json!.error.code, 'HOLDER_FAILED');
    assert.equal(post.json!.error.details.summarySaved, true);
    assert.match(post.json!.error.message, /died during the stop/);
    assert.match(post.json!.error.message, /verify/);
    // Nothing was lost: the sink has the summary the spool kept, and the spool let it go.
    const summary = await new FilesystemSummaryStore({ directory: box.sink() }).get(id);
    assert.match(summary.labelFile, new RegExp(`^LABEL: ${id}$`, 'm'));
    assert.deepEqual(await readdir(box.spoolDir), []);
    assert.equal(await backends(id), 0);
    const log = await readFile(join(box.runtimeDir, `${id}.log`), 'utf8');
    assert.match(log, /summary persisted in the spool/);
    // The recovery docs/hooks.md gives: verify the WAL, which the server archives on its own.
    let verify = await box.run(['verify', '--id', id, '--store', box.sink(), '--wal-archive', hooks.cluster.archiveDir]);
    const verified = await waitFor(async () => (verify = await box.run(['verify', '--id', id, '--store', box.sink(), '--wal-archive', hooks.cluster.archiveDir])).code === 0, 20_000, 500);
    assert.ok(verified, `verify finds every WAL file of the backup in the archive\n${explain(verify)}`);
  });

  test('a holder that crashes (an uncaught error) while holding: it gives the backup up and leaves a tombstone naming the crash; post exits 3', async (t) => {
    const box = await sandbox(t);
    const id = 'fault-holder-throws';
    const started = await box.run(['pre', '--id', id, '--sink', box.sink(), '--dbname', hooks.dbname, '--fast', '--json'], withHolderFault('throw-while-held'));
    assert.equal(started.code, 0, explain(started));
    const pid = started.json!.pid as number;
    assert.ok(await waitFor(() => !alive(pid), 10_000), 'the crashed holder exits');
    assert.ok(await waitFor(async () => (await backends(id)) === 0), 'the server ended the backup');
    const post = await box.run(['post', '--id', id, '--json']);
    assert.equal(post.code, 3, explain(post));
    assert.equal(post.json!.error.code, 'BACKUP_ABORTED');
    assert.equal(post.json!.error.details.state, 'lost');
    assert.match(post.json!.error.message, /the holder process crashed: test fault: throw-while-held/);
    assert.deepEqual(await box.runtimeFiles(), [`${id}.json`, `${id}.log`]);
    assert.match(await readFile(join(box.runtimeDir, `${id}.log`), 'utf8'), /holder crashed: Error: test fault: throw-while-held/);
  });
});
