// Progress and logging (issue #6): long waits show on stderr (one redrawn line on a terminal, plain
// throttled lines otherwise, every wait with --verbose), stdout stays one JSON object with --json,
// and the holder's debug log is there only when asked.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { debugEnabled } from '../../src/agent/holder/debug.js';
import { runCli } from '../../src/cli/main.js';
import { ProgressDisplay } from '../../src/cli/progress.js';
import { explain } from './cli-helpers.js';
import { HOOK_MAJOR, useHookCluster } from './hook-fixture.js';

describe('ProgressDisplay', () => {
  test('on a terminal: one line redrawn in place, cleared at the end', () => {
    let out = '';
    const display = new ProgressDisplay((text) => (out += text), { tty: true, verbose: false });
    display.update({ phase: 'archive', message: 'waiting 1', elapsedMs: 100 });
    display.update({ phase: 'archive', message: 'waiting 2', elapsedMs: 1100 });
    display.end();
    assert.equal(out, '\r\x1b[Kpg-split-backup: waiting 1\r\x1b[Kpg-split-backup: waiting 2\r\x1b[K');
  });

  test('plain lines: quiet for short waits, then one line per 10 s; a sink retry always shows', () => {
    let out = '';
    const display = new ProgressDisplay((text) => (out += text), { tty: false, verbose: false });
    display.update({ phase: 'checkpoint', message: 'short', elapsedMs: 1000 });
    assert.equal(out, '');
    display.update({ phase: 'checkpoint', message: 'long', elapsedMs: 6000 });
    display.update({ phase: 'checkpoint', message: 'longer', elapsedMs: 7000 });
    assert.equal(out, 'pg-split-backup: long\n');
    display.update({ phase: 'sink-retry', message: 'sink down' });
    assert.equal(out, 'pg-split-backup: long\npg-split-backup: sink down\n');
    display.end();
    assert.doesNotMatch(out, /\r/);
  });

  test('verbose plain lines: every wait, at most one a second per phase', () => {
    let out = '';
    const display = new ProgressDisplay((text) => (out += text), { tty: false, verbose: true });
    display.update({ phase: 'archive', message: 'a', elapsedMs: 50 });
    display.update({ phase: 'archive', message: 'b', elapsedMs: 100 });
    display.update({ phase: 'checkpoint', message: 'c', elapsedMs: 100 });
    assert.equal(out, 'pg-split-backup: a\npg-split-backup: c\n');
  });

  test('the holder debug switch: PGSB_DEBUG=1, or DEBUG naming pg-split-backup or *', () => {
    assert.equal(debugEnabled({}), false);
    assert.equal(debugEnabled({ PGSB_DEBUG: '0' }), false);
    assert.equal(debugEnabled({ PGSB_DEBUG: '1' }), true);
    assert.equal(debugEnabled({ DEBUG: 'express,pg-split-backup' }), true);
    assert.equal(debugEnabled({ DEBUG: 'pg-split-backup:*' }), true);
    assert.equal(debugEnabled({ DEBUG: '*' }), true);
    assert.equal(debugEnabled({ DEBUG: 'pg-split-backupx' }), false);
  });
});

describe(`progress through the CLI on PostgreSQL ${HOOK_MAJOR}`, () => {
  const hooks = useHookCluster();

  /** An archiver that takes 3 s per file: post has something to wait for. */
  async function slowArchiver(t: import('node:test').TestContext): Promise<void> {
    const original = (await hooks.cluster.query<{ archive_command: string }>('SHOW archive_command'))[0]!.archive_command;
    await hooks.cluster.setSettings({ archive_command: `sleep 3 && ${original}` });
    t.after(async () => {
      await hooks.cluster.query('ALTER SYSTEM RESET archive_command');
      await hooks.cluster.reload();
    });
  }

  test('post --verbose --json: the archive wait shows on stderr as plain lines; stdout is one JSON object', async (t) => {
    const box = await hooks.sandbox(t);
    await slowArchiver(t);
    const id = 'progress-plain';
    await hooks.pre(box, id);
    const post = await box.run(['post', '--id', id, '--json', '--verbose']);
    assert.equal(post.code, 0, explain(post));
    assert.equal(post.json!.id, id);
    assert.match(post.stderr, /^pg-split-backup: waiting for WAL file [0-9A-F]{24} to be archived, \d+ s \(last archived: /m);
    assert.doesNotMatch(post.stderr, /\r/);
  });

  test('post on a terminal: the wait is one line redrawn in place and cleared before the result', async (t) => {
    const box = await hooks.sandbox(t);
    await slowArchiver(t);
    const id = 'progress-tty';
    await hooks.pre(box, id);
    let stdout = '';
    let stderr = '';
    const code = await runCli(['post', '--id', id, '--runtime-dir', box.runtimeDir], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), stderrIsTTY: true });
    assert.equal(code, 0, stderr);
    assert.match(stderr, /^\r\x1b\[Kpg-split-backup: waiting for WAL file [0-9A-F]{24} to be archived/);
    assert.ok(stderr.endsWith('\r\x1b[K'), JSON.stringify(stderr.slice(-80)));
    assert.doesNotMatch(stderr, /\n/);
    assert.match(stdout, new RegExp(`^backup ${id} stopped at `));
  });

  test('pre --verbose: the holder logs at debug level (heartbeats, server facts); without it, no debug line', async (t) => {
    const box = await hooks.sandbox(t);
    const quiet = await hooks.pre(box, 'progress-quiet', '--heartbeat', '200ms');
    const loud = await hooks.pre(box, 'progress-debug', '--heartbeat', '200ms', '--verbose');
    assert.match(loud.stderr, /^pg-split-backup: holder pid \d+ holds backup progress-debug; its log: /m);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const id of ['progress-quiet', 'progress-debug']) assert.equal((await box.run(['post', '--id', id])).code, 0);
    const quietLog = await readFile(join(box.runtimeDir, 'progress-quiet.log'), 'utf8');
    const loudLog = await readFile(join(box.runtimeDir, 'progress-debug.log'), 'utf8');
    assert.doesNotMatch(quietLog, / DEBUG /);
    assert.match(loudLog, / DEBUG connected to PostgreSQL \d+/);
    assert.match(loudLog, / DEBUG heartbeat answered in \d+ ms/);
    assert.doesNotMatch(loudLog, /hunter2/);
    void quiet;
  });

  test('DEBUG=pg-split-backup in the environment of pre turns the holder debug log on', async (t) => {
    const box = await hooks.sandbox(t);
    const run = await box.run(['pre', '--id', 'progress-env', '--sink', box.sink(), '--dbname', hooks.dbname, '--fast', '--json'], { env: { DEBUG: 'pg-split-backup' } });
    assert.equal(run.code, 0, explain(run));
    assert.equal((await box.run(['post', '--id', 'progress-env'])).code, 0);
    assert.match(await readFile(join(box.runtimeDir, 'progress-env.log'), 'utf8'), / DEBUG connected to PostgreSQL/);
  });
});
