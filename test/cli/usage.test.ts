// The CLI's surface without a server: help, usage errors, bad IDs and URLs, the runtime
// directory's safety checks. Nothing here may start a holder or leave a file behind.
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serverUser } from '../harness/index.js';
import { CliSandbox, explain } from './cli-helpers.js';

const COMMANDS = ['pre', 'post', 'abort', 'status', 'list', 'show'];
// Nothing listens there: a pre that got past validation would fail to connect, not exit 2.
const NO_SERVER = 'postgresql://nobody@127.0.0.1:1/postgres';

describe('pg-split-backup usage', () => {
  let box: CliSandbox;
  before(async () => {
    box = await CliSandbox.create();
  });
  after(async () => {
    await box?.destroy();
  });

  test('--help on every command prints its usage and the exit code table on stdout, exit 0', async () => {
    for (const command of COMMANDS) {
      const run = await box.run([command, '--help'], { runtimeDir: false });
      assert.equal(run.code, 0, explain(run));
      assert.match(run.stdout, new RegExp(`^Usage: pg-split-backup ${command}`, 'm'));
      assert.match(run.stdout, /Exit codes:\n {2}0 {2}success/);
      assert.match(run.stdout, / {2}4 {2}the summary was not saved to every sink/);
      assert.equal(run.stderr, '');
    }
    const main = await box.run(['--help'], { runtimeDir: false });
    assert.equal(main.code, 0);
    for (const command of COMMANDS) assert.match(main.stdout, new RegExp(`^ {2}${command} `, 'm'));
  });

  test('no command, an unknown command, an unknown flag or a missing --id exit 2; --json gives one error object', async () => {
    const none = await box.run([], { runtimeDir: false });
    assert.equal(none.code, 2, explain(none));
    assert.match(none.stderr, /Usage: pg-split-backup <command>/);
    const unknown = await box.run(['backup', '--json']);
    assert.equal(unknown.code, 2, explain(unknown));
    assert.deepEqual(Object.keys(unknown.json ?? {}), ['ok', 'error']);
    assert.equal(unknown.json?.ok, false);
    assert.equal(unknown.json?.error.code, 'INVALID_OPTION');
    const flag = await box.run(['post', '--id', 'x', '--bogus']);
    assert.equal(flag.code, 2, explain(flag));
    assert.match(flag.stderr, /INVALID_OPTION.*--bogus/);
    const missing = await box.run(['post', '--json']);
    assert.equal(missing.code, 2, explain(missing));
    assert.match(missing.json?.error.message, /--id is required/);
    const noSink = await box.run(['pre', '--id', 'x', '--dbname', NO_SERVER]);
    assert.equal(noSink.code, 2, explain(noSink));
    assert.match(noSink.stderr, /at least one --sink/);
    const badHold = await box.run(['pre', '--id', 'x', '--sink', box.sink(), '--max-hold', 'forever', '--dbname', NO_SERVER]);
    assert.equal(badHold.code, 2, explain(badHold));
    assert.match(badHold.stderr, /--max-hold/);
  });

  test('pre with a bad ID exits 2 INVALID_ID and leaves nothing behind: no file in the runtime dir, no holder process', async () => {
    for (const id of ['../etc', '.hidden', '-dash', 'with space', 'a/b', 'x'.repeat(201), '']) {
      const run = await box.run(['pre', `--id=${id}`, '--sink', box.sink(), '--dbname', NO_SERVER, '--json']);
      assert.equal(run.code, 2, `${JSON.stringify(id)}: ${explain(run)}`);
      assert.equal(run.json?.error.code, id === '' ? 'INVALID_OPTION' : 'INVALID_ID', explain(run));
    }
    for (const command of ['post', 'abort', 'status', 'show']) {
      const run = await box.run([command, '--id', '../etc', ...(command === 'show' ? ['--store', box.sink()] : [])]);
      assert.equal(run.code, 2, `${command}: ${explain(run)}`);
      assert.match(run.stderr, /INVALID_ID/);
    }
    assert.deepEqual(await box.runtimeFiles(), []);
    assert.deepEqual(box.processes(), []);
  });

  test('pre with a bad sink URL or --dbname exits 2 (INVALID_URL / INVALID_OPTION) and leaves nothing behind', async () => {
    const urls = ['relative/dir', 'ftp://host/dir', 's3://', 's3://Bad_Bucket/x', 's3://bucket/p?nope=1', 'file://host/dir', ''];
    for (const url of urls) {
      const run = await box.run(['pre', '--id', 'good-id', '--sink', box.sink(), '--sink', url, '--dbname', NO_SERVER, '--json']);
      assert.equal(run.code, 2, `${url}: ${explain(run)}`);
      assert.equal(run.json?.error.code, 'INVALID_URL', `${url}: ${explain(run)}`);
    }
    const kv = await box.run(['pre', '--id', 'good-id', '--sink', box.sink(), '--dbname', 'host=x password=hunter2']);
    assert.equal(kv.code, 2, explain(kv));
    assert.doesNotMatch(kv.stdout + kv.stderr, /hunter2/);
    const store = await box.run(['list', '--store', 'relative/dir']);
    assert.equal(store.code, 2, explain(store));
    assert.deepEqual(await box.runtimeFiles(), []);
    assert.deepEqual(box.processes(), []);
  });

  test('post, abort and status --id for an ID never started exit 3 "no backup with ID"; status lists nothing', async () => {
    for (const command of ['post', 'abort', 'status']) {
      const run = await box.run([command, '--id', 'never-started']);
      assert.equal(run.code, 3, `${command}: ${explain(run)}`);
      assert.match(run.stderr, /NOT_FOUND: No backup with ID never-started/);
    }
    const status = await box.run(['status', '--json']);
    assert.equal(status.code, 0, explain(status));
    assert.deepEqual(status.json, { ok: true, backups: [] });
  });

  test('PG_SPLIT_BACKUP_RUNTIME_DIR names the runtime dir when --runtime-dir is not given', async () => {
    const dir = join(box.base, 'from-env-rt');
    await mkdir(dir);
    await chmod(dir, 0o777);
    const refused = await box.run(['post', '--id', 'x'], { runtimeDir: false, env: { PG_SPLIT_BACKUP_RUNTIME_DIR: dir } });
    assert.equal(refused.code, 2, explain(refused));
    assert.match(refused.stderr, new RegExp(`UNSAFE_RUNTIME_DIR: Refusing the runtime directory ${dir}`));
  });

  test('pre that cannot reach the server exits 1 CONNECTION_FAILED; the runtime dir is created 0700 and left empty, no holder lives on', async () => {
    const dir = join(box.base, 'new-parent', 'rt');
    const run = await box.run(['pre', '--id', 'unreachable', '--sink', box.sink(), '--dbname', 'postgresql://nobody:hunter2@127.0.0.1:1/postgres', '--json'], { runtimeDir: dir });
    assert.equal(run.code, 1, explain(run));
    assert.equal(run.json?.error.code, 'CONNECTION_FAILED');
    assert.doesNotMatch(run.stdout + run.stderr, /hunter2/);
    const { stat, readdir } = await import('node:fs/promises');
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(dir), []);
    assert.deepEqual(box.processes(), []);
  });

  describe('an unsafe runtime directory is refused with UNSAFE_RUNTIME_DIR, exit 2, before anything starts', () => {
    const refuse = async (dir: string, why: RegExp): Promise<void> => {
      for (const args of [
        ['pre', '--id', 'x', '--sink', box.sink(), '--dbname', NO_SERVER],
        ['post', '--id', 'x'],
        ['status'],
      ]) {
        const run = await box.run([...args, '--json'], { runtimeDir: dir });
        assert.equal(run.code, 2, `${args[0]}: ${explain(run)}`);
        assert.equal(run.json?.error.code, 'UNSAFE_RUNTIME_DIR', explain(run));
        assert.match(run.json?.error.message, why);
      }
      assert.deepEqual(box.processes(), []);
    };

    test('a symlink', async () => {
      const real = join(box.base, 'real-rt');
      await mkdir(real, { mode: 0o700 });
      await symlink(real, join(box.base, 'link-rt'));
      await refuse(join(box.base, 'link-rt'), /symbolic link/);
    });

    test('group- or world-writable', async () => {
      for (const mode of [0o770, 0o707]) {
        const dir = join(box.base, `open-rt-${mode.toString(8)}`);
        await mkdir(dir);
        await chmod(dir, mode);
        await refuse(dir, /writable by group or others/);
      }
    });

    test('not a directory', async () => {
      const file = join(box.base, 'file-rt');
      await writeFile(file, '');
      await refuse(file, /not a directory/);
    });

    test('owned by another user', async (t) => {
      const other = serverUser();
      if (other === undefined) return t.skip('needs root to chown a directory to another user');
      const dir = join(box.base, 'foreign-rt');
      await mkdir(dir, { mode: 0o700 });
      await chown(dir, other.uid, other.gid);
      await refuse(dir, /owned by uid/);
    });
  });
});
