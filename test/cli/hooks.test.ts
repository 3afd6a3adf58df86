// pre / post / abort / status against a real server, with real processes: the CLI as a child
// process (piped stdio, read to EOF, as a backup program runs hooks) and its detached holder.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, readlink, readdir, stat, writeFile } from 'node:fs/promises';
import { isSealed } from '../../src/index.js';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { alive, explain, ROOT, waitFor } from './cli-helpers.js';
import { HOOK_MAJOR, useHookCluster } from './hook-fixture.js';

describe(`pg-split-backup hooks on PostgreSQL ${HOOK_MAJOR}`, () => {
  const hooks = useHookCluster();
  const { sandbox, pre, backends } = hooks;

  test('encrypted sinks: pre moves PGSB_ENCRYPTION_KEY over IPC (not in the holder environment), post seals the summary; show needs the key; a 0644 key file fails pre before anything starts', async (t) => {
    const box = await sandbox(t);
    const key = randomBytes(32).toString('base64');
    const id = 'hooks-sealed';
    const started = await box.run(['pre', '--id', id, '--sink', box.sink(), '--dbname', hooks.dbname, '--fast', '--json'], { env: { PGSB_ENCRYPTION_KEY: key } });
    assert.equal(started.code, 0, explain(started));
    const pid = started.json!.pid as number;
    assert.ok(!(await readFile(`/proc/${pid}/environ`, 'utf8')).includes(key), 'the key left the holder environment');
    assert.ok(!(await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(key));
    const stopped = await box.run(['post', '--id', id]);
    assert.equal(stopped.code, 0, explain(stopped));
    for (const name of ['backup_label', 'summary.json']) {
      const body = await readFile(join(box.sink(), id, name));
      assert.ok(isSealed(body), name);
      assert.equal(body.indexOf('LABEL:'), -1);
    }
    for (const file of [join(box.runtimeDir, `${id}.json`), join(box.runtimeDir, `${id}.log`)]) assert.ok(!(await readFile(file, 'utf8')).includes(key), file);
    const shown = await box.run(['show', '--id', id, '--store', box.sink(), '--json'], { env: { PGSB_ENCRYPTION_KEY: key } });
    assert.equal(shown.code, 0, explain(shown));
    assert.match(shown.json!.summary.labelFile, new RegExp(`LABEL: ${id}`));
    const keyless = await box.run(['show', '--id', id, '--store', box.sink(), '--json']);
    assert.equal(keyless.code, 2, explain(keyless));
    assert.equal(keyless.json!.error.code, 'ENCRYPTION_KEY_MISSING');
    // A key file others can read: pre refuses before any server session or holder exists.
    const loose = join(box.base, 'loose.key');
    await writeFile(loose, `${key}\n`, { mode: 0o644 });
    await chmod(loose, 0o644);
    const refused = await box.run(['pre', '--id', 'hooks-loose', '--sink', box.sink(), '--dbname', hooks.dbname, '--encryption-key-file', loose, '--json']);
    assert.equal(refused.code, 2, explain(refused));
    assert.equal(refused.json!.error.code, 'KEY_FILE_INSECURE');
    assert.equal(await backends('hooks-loose'), 0);
    assert.ok(!(await box.runtimeFiles()).some((f) => f.startsWith('hooks-loose')));
  });

  test('pre read to EOF by its caller returns at once while the holder lives on without the caller’s stdio; post saves the summary and exits 0', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-basic';
    const started = await box.run(['pre', '--id', id, '--sink', box.sink(), '--dbname', hooks.dbname, '--fast', '--json'], { env: { PGPASSWORD: 'hunter3' } });
    assert.equal(started.code, 0, explain(started));
    assert.ok(started.eofAfterExitMs < 1000, `stdout reached EOF ${started.eofAfterExitMs} ms after pre exited`);
    assert.ok(started.ms < 15_000, `pre took ${started.ms} ms`);
    const json = started.json!;
    assert.deepEqual(Object.keys(json).sort(), ['id', 'log', 'maxHoldMs', 'ok', 'pid', 'runtimeDir', 'serverVersion', 'startLsn', 'startWalFile', 'startedAt', 'timeline'].sort());
    assert.equal(json.id, id);
    assert.match(json.startLsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(json.startWalFile, /^[0-9A-F]{24}$/);
    assert.equal(json.maxHoldMs, 86_400_000);
    const pid = json.pid as number;
    assert.ok(alive(pid), 'the holder outlives pre');
    assert.equal(await backends(id), 1);

    // The holder holds none of the caller's pipes: stdin is /dev/null, stdout/stderr its log file.
    assert.equal(await readlink(`/proc/${pid}/fd/0`), '/dev/null');
    assert.equal(await readlink(`/proc/${pid}/fd/1`), join(box.runtimeDir, `${id}.log`));
    assert.equal(await readlink(`/proc/${pid}/fd/2`), join(box.runtimeDir, `${id}.log`));
    // Runtime files: socket 0600, lock and record naming the holder.
    assert.deepEqual(await box.runtimeFiles(), [`${id}.json`, `${id}.lock`, `${id}.log`, `${id}.sock`]);
    const socket = await stat(join(box.runtimeDir, `${id}.sock`));
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600);
    assert.equal((await stat(box.runtimeDir)).mode & 0o777, 0o700);
    const record = JSON.parse(await readFile(join(box.runtimeDir, `${id}.json`), 'utf8'));
    assert.equal(record.state, 'running');
    assert.equal(record.pid, pid);
    assert.equal(JSON.parse(await readFile(join(box.runtimeDir, `${id}.lock`), 'utf8')).pid, pid);
    // The password is nowhere: not in the holder's argv or environment, the log, the record, the output.
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
    assert.doesNotMatch(cmdline, /hunter2|postgresql:/);
    assert.doesNotMatch(environ, /hunter[23]/);

    const status = await box.run(['status', '--json']);
    assert.equal(status.code, 0, explain(status));
    assert.equal(status.json!.backups.length, 1);
    const listed = status.json!.backups[0];
    assert.equal(listed.id, id);
    assert.equal(listed.pid, pid);
    assert.equal(listed.startLsn, json.startLsn);
    assert.equal(listed.startedAt, json.startedAt);
    assert.equal(listed.state, 'running');
    assert.equal(typeof listed.heldForMs, 'number');
    const text = await box.run(['status', '--id', id]);
    assert.equal(text.code, 0, explain(text));
    assert.match(text.stdout, new RegExp(`^${id}\\s+${pid}\\s+running\\s+${json.startLsn.replace('/', '\\/')}`, 'm'));

    await hooks.cluster.query('CREATE TABLE IF NOT EXISTS hooks_basic AS SELECT generate_series(1, 1000) AS i');
    const stopped = await box.run(['post', '--id', id]);
    assert.equal(stopped.code, 0, explain(stopped));
    assert.match(stopped.stdout, new RegExp(`^backup ${id} stopped at [0-9A-F]+/[0-9A-F]+$`, 'm'));
    assert.match(stopped.stdout, new RegExp(`summary saved to:\\n  file://${box.sink()}/${id}/`));
    assert.ok(await waitFor(() => !alive(pid)), 'the holder exits after post');
    assert.equal(await backends(id), 0);
    assert.deepEqual(await readdir(join(box.sink(), id)), ['backup_label', 'summary.json']);
    assert.match(await readFile(join(box.sink(), id, 'backup_label'), 'utf8'), new RegExp(`^LABEL: ${id}$`, 'm'));
    assert.deepEqual(await box.runtimeFiles(), [`${id}.json`, `${id}.log`]);
    const final = JSON.parse(await readFile(join(box.runtimeDir, `${id}.json`), 'utf8'));
    assert.equal(final.state, 'stopped');
    assert.deepEqual(final.summaryLocations, [`file://${box.sink()}/${id}/`]);
    for (const text of [started.stdout, started.stderr, stopped.stdout, stopped.stderr, await readFile(join(box.runtimeDir, `${id}.log`), 'utf8'), JSON.stringify(final)]) {
      assert.doesNotMatch(text, /hunter[23]/);
    }
    // The spool is emptied once every sink holds the summary.
    assert.deepEqual(await readdir(box.spoolDir).catch(() => []), []);
  });

  test('two IDs run concurrently; a duplicate ID exits 2 ALREADY_EXISTS and does not disturb the running one', async (t) => {
    const box = await sandbox(t);
    const one = await pre(box, 'hooks-one');
    const two = await pre(box, 'hooks-two');
    assert.notEqual(one.pid, two.pid);
    const duplicate = await box.run(['pre', '--id', 'hooks-one', '--sink', box.sink('other-sink'), '--dbname', hooks.dbname, '--json']);
    assert.equal(duplicate.code, 2, explain(duplicate));
    assert.equal(duplicate.json!.error.code, 'ALREADY_EXISTS');
    assert.equal(duplicate.json!.error.details.pid, one.pid);
    assert.ok(alive(one.pid));
    assert.equal(await backends('hooks-one'), 1);
    const status = await box.run(['status', '--json']);
    assert.deepEqual(
      status.json!.backups.map((b: { id: string; pid: number }) => [b.id, b.pid]),
      [
        ['hooks-one', one.pid],
        ['hooks-two', two.pid],
      ],
    );
    for (const id of ['hooks-two', 'hooks-one']) {
      const post = await box.run(['post', '--id', id]);
      assert.equal(post.code, 0, explain(post));
    }
    assert.deepEqual((await readdir(box.sink())).sort(), ['hooks-one', 'hooks-two']);
    assert.deepEqual(await readdir(box.sink('other-sink')).catch(() => []), []);
  });

  test('pre killed while the server is still starting the backup (a hook timeout): the holder gives the backup up and leaves nothing behind', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-pre-killed';
    // Dirty buffers make the spread (not --fast) checkpoint of the start take minutes.
    await hooks.cluster.query('CREATE TABLE hooks_dirty AS SELECT g AS i, repeat(md5(g::text), 4) AS pad FROM generate_series(1, 150000) AS g');
    t.after(() => hooks.cluster.query('DROP TABLE IF EXISTS hooks_dirty'));
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'pre', '--id', id, '--sink', box.sink(), '--dbname', hooks.dbname, '--runtime-dir', box.runtimeDir], {
      cwd: ROOT,
      env: box.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const closed = new Promise((resolve) => child.on('close', resolve));
    const starting = async (): Promise<boolean> => {
      const rows = await hooks.cluster.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query ~ 'start_backup|backup_start'",
        [`pg-split-backup ${id}`],
      );
      return rows[0]!.n === 1;
    };
    assert.ok(await waitFor(starting, 20_000), 'the holder is waiting for the start checkpoint');
    const holders = box.processes().filter((pid) => pid !== child.pid);
    assert.equal(holders.length, 1);
    child.kill('SIGKILL');
    await closed;
    assert.ok(await waitFor(() => !alive(holders[0]!), 10_000), 'the holder gives up once pre is gone');
    // Let the server finish the start call: its backend then finds the client gone and aborts the backup.
    await hooks.cluster.query('CHECKPOINT');
    assert.ok(await waitFor(async () => (await backends(id)) === 0, 20_000), 'no backend of the backup is left');
    assert.deepEqual(await box.runtimeFiles(), []);
    assert.deepEqual(box.processes(), []);
    const post = await box.run(['post', '--id', id]);
    assert.equal(post.code, 3, explain(post));
  });

  test('abort ends a running backup without a summary (exit 0); then post exits 3 and abort again exits 3', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-aborted';
    const { pid } = await pre(box, id);
    const abort = await box.run(['abort', '--id', id, '--json']);
    assert.equal(abort.code, 0, explain(abort));
    assert.deepEqual(abort.json, { ok: true, id, state: 'aborted', reason: 'aborted on request (pg-split-backup abort)' });
    assert.ok(await waitFor(() => !alive(pid)));
    assert.equal(await backends(id), 0);
    const post = await box.run(['post', '--id', id]);
    assert.equal(post.code, 3, explain(post));
    assert.match(post.stderr, /it was aborted at .*: aborted on request/);
    const again = await box.run(['abort', '--id', id]);
    assert.equal(again.code, 3, explain(again));
    assert.deepEqual(await readdir(box.sink()).catch(() => []), []);
  });

  test('a role without the backup privileges: pre exits 2 PRIVILEGE and leaves nothing behind', async (t) => {
    const box = await sandbox(t);
    await hooks.cluster.createRole('hooks_nopriv');
    const run = await box.run(['pre', '--id', 'hooks-nopriv', '--sink', box.sink(), '--dbname', hooks.cluster.connectionStringFor('hooks_nopriv'), '--json']);
    assert.equal(run.code, 2, explain(run));
    assert.equal(run.json!.error.code, 'PRIVILEGE');
    assert.deepEqual(await box.runtimeFiles(), []);
    assert.deepEqual(box.processes(), []);
    assert.equal(await backends('hooks-nopriv'), 0);
  });

  test('list and show read the summaries back; show verifies checksums (exit 2 CORRUPT_SUMMARY) and exits 3 for an unknown ID', async (t) => {
    const box = await sandbox(t);
    for (const id of ['hooks-list-b', 'hooks-list-a']) {
      await pre(box, id);
      const post = await box.run(['post', '--id', id]);
      assert.equal(post.code, 0, explain(post));
    }
    const list = await box.run(['list', '--store', `file://${box.sink()}`, '--json']);
    assert.equal(list.code, 0, explain(list));
    assert.deepEqual(list.json!.ids, ['hooks-list-a', 'hooks-list-b']);
    const listText = await box.run(['list', '--store', box.sink()]);
    assert.equal(listText.stdout, 'hooks-list-a\nhooks-list-b\n');
    const show = await box.run(['show', '--id', 'hooks-list-a', '--store', box.sink()]);
    assert.equal(show.code, 0, explain(show));
    assert.match(show.stdout, /^LABEL: hooks-list-a$/m);
    assert.match(show.stdout, /^WAL needed: +[0-9A-F]{24} \.\. [0-9A-F]{24}/m);
    const showJson = await box.run(['show', '--id', 'hooks-list-a', '--store', box.sink(), '--json']);
    assert.equal(showJson.json!.summary.id, 'hooks-list-a');
    const unknown = await box.run(['show', '--id', 'hooks-list-z', '--store', box.sink()]);
    assert.equal(unknown.code, 3, explain(unknown));
    const label = join(box.sink(), 'hooks-list-b', 'backup_label');
    await writeFile(label, (await readFile(label, 'utf8')).replace('CHECKPOINT LOCATION', 'CHECKPOINT  LOCATION'));
    const corrupt = await box.run(['show', '--id', 'hooks-list-b', '--store', box.sink(), '--json']);
    assert.equal(corrupt.code, 2, explain(corrupt));
    assert.equal(corrupt.json!.error.code, 'CORRUPT_SUMMARY');
  });

  test('post interrupted by Ctrl-C says the stop goes on in the holder and exits 130; post again reports the saved summary', async (t) => {
    const box = await sandbox(t);
    const id = 'hooks-interrupted';
    // A slow archive keeps post waiting for the stop segment long enough to be interrupted.
    const archive = hooks.cluster.archiveDir;
    await hooks.cluster.setSettings({ archive_command: `sleep 3 && test ! -f ${archive}/%f && cp %p ${archive}/%f` });
    t.after(() => hooks.cluster.setSettings({ archive_command: `test ! -f ${archive}/%f && cp %p ${archive}/%f` }));
    await pre(box, id);
    const first = await box.run(['post', '--id', id, '--verbose'], {
      onSpawn: (child) => {
        let said = '';
        child.stderr.on('data', (d: Buffer) => {
          said += d.toString();
          // Once the stop is under way (the holder reports its archive wait), Ctrl-C.
          if (/archiv/i.test(said) && !child.killed) child.kill('SIGINT');
        });
      },
    });
    assert.equal(first.code, 130, explain(first));
    assert.match(first.stderr, /interrupted by SIGINT\. The stop goes on in the holder/);
    assert.match(first.stderr, new RegExp(`run "pg-split-backup post --id ${id}" again`));
    const second = await box.run(['post', '--id', id, '--json']);
    assert.equal(second.code, 0, explain(second));
    assert.deepEqual(second.json!.locations, [`file://${box.sink()}/${id}/`]);
    assert.match(await readFile(join(box.sink(), id, 'backup_label'), 'utf8'), new RegExp(`^LABEL: ${id}$`, 'm'));
  });
});
