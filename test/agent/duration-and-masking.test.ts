import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maskConnectionString, parseDbname } from '../../src/agent/connection.js';
import { formatDuration, parseDuration } from '../../src/cli/duration.js';
import { agentPaths, MAX_SOCKET_PATH, resolveRuntimeDir } from '../../src/agent/state/runtime-dir.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { BackupError, isBackupError } from '../../src/index.js';

describe('parseDuration', () => {
  test('reads 90s, 30m, 24h, 1d, 500ms, 1.5h, 1h30m and a bare number as seconds', () => {
    assert.equal(parseDuration('90s', 'max-hold'), 90_000);
    assert.equal(parseDuration('30m', 'max-hold'), 1_800_000);
    assert.equal(parseDuration('24h', 'max-hold'), 86_400_000);
    assert.equal(parseDuration('1d', 'max-hold'), 86_400_000);
    assert.equal(parseDuration('500ms', 'max-hold'), 500);
    assert.equal(parseDuration('1.5h', 'max-hold'), 5_400_000);
    assert.equal(parseDuration('1h30m', 'max-hold'), 5_400_000);
    assert.equal(parseDuration('45', 'max-hold'), 45_000);
    assert.equal(parseDuration('0', 'max-hold'), 0);
  });

  test('refuses garbage, negatives and absurd lengths with INVALID_OPTION naming the option', () => {
    for (const bad of ['', 'soon', '-5s', '5 s', '5w', '1e3s', '400d', 'h']) {
      assert.throws(
        () => parseDuration(bad, 'max-hold'),
        (e) => isBackupError(e, 'INVALID_OPTION') && /--max-hold/.test(e.message) && e.details.option === 'max-hold',
        bad,
      );
    }
  });

  test('formatDuration is short and rounds down', () => {
    assert.equal(formatDuration(42_900), '42s');
    assert.equal(formatDuration(187_000), '3m 07s');
    assert.equal(formatDuration(7_500_000), '2h 05m');
    assert.equal(formatDuration(90_000_000), '1d 01h');
  });
});

describe('--dbname and password masking', () => {
  test('a URI, a database name, or nothing; key=value strings are refused without echoing a password', () => {
    assert.deepEqual(parseDbname('postgresql://u@h:5/db'), { uri: 'postgresql://u@h:5/db' });
    assert.deepEqual(parseDbname('postgres://u@h/db'), { uri: 'postgres://u@h/db' });
    assert.deepEqual(parseDbname('mydb'), { database: 'mydb' });
    assert.deepEqual(parseDbname(undefined), {});
    assert.throws(
      () => parseDbname('host=h password=hunter2'),
      (e) => isBackupError(e, 'INVALID_OPTION') && !e.message.includes('hunter2'),
    );
  });

  test('maskConnectionString hides URI passwords, also ones holding @, and password= parameters', () => {
    assert.equal(maskConnectionString('postgresql://u:hunter2@h:5432/db'), 'postgresql://u:***@h:5432/db');
    assert.equal(maskConnectionString('postgresql://u:p@ss@h/db'), 'postgresql://u:***@h/db');
    assert.equal(maskConnectionString('postgresql://u@h/db?password=hunter2&sslmode=require'), 'postgresql://u@h/db?password=***&sslmode=require');
    assert.equal(maskConnectionString('postgresql://u@h/db'), 'postgresql://u@h/db');
  });
});

describe('runtime directory paths', () => {
  test('the flag wins over PG_SPLIT_BACKUP_RUNTIME_DIR, which wins over XDG_RUNTIME_DIR, then /tmp/pg-split-backup-<uid>', () => {
    const env = { PG_SPLIT_BACKUP_RUNTIME_DIR: '/env/rt', XDG_RUNTIME_DIR: '/run/user/1000' };
    assert.equal(resolveRuntimeDir('/flag/rt', env), '/flag/rt');
    assert.equal(resolveRuntimeDir(undefined, env), '/env/rt');
    assert.equal(resolveRuntimeDir(undefined, { XDG_RUNTIME_DIR: '/run/user/1000' }), '/run/user/1000/pg-split-backup');
    assert.equal(resolveRuntimeDir(undefined, {}), `/tmp/pg-split-backup-${process.getuid!()}`);
    assert.throws(() => resolveRuntimeDir('relative/rt', {}), (e) => isBackupError(e, 'INVALID_OPTION'));
    assert.throws(() => resolveRuntimeDir(`/${'x'.repeat(80)}`, {}), (e) => isBackupError(e, 'INVALID_OPTION'));
  });

  test('the socket is <id>.sock, or a hashed name when that would not fit in a Unix socket path', () => {
    assert.equal(agentPaths('/run/rt', 'nightly-1').socket, '/run/rt/nightly-1.sock');
    const long = agentPaths('/run/rt', 'x'.repeat(200));
    assert.match(long.socket, /^\/run\/rt\/~[0-9a-f]{40}\.sock$/);
    assert.ok(long.socket.length <= MAX_SOCKET_PATH);
    assert.equal(long.record, `/run/rt/${'x'.repeat(200)}.json`);
    assert.throws(() => agentPaths('/run/rt', '../etc'), (e) => isBackupError(e, 'INVALID_ID'));
  });
});

describe('exit codes', () => {
  test('bad input 2, not running 3, summary not saved 4, anything else 1', () => {
    const code = (c: ConstructorParameters<typeof BackupError>[0]): number => exitCodeFor(new BackupError(c, 'x'));
    for (const c of ['INVALID_ID', 'INVALID_OPTION', 'INVALID_URL', 'ALREADY_EXISTS', 'SERVER_SETTING', 'PRIVILEGE', 'UNSUPPORTED_SERVER', 'UNSAFE_RUNTIME_DIR', 'CORRUPT_SUMMARY'] as const) {
      assert.equal(code(c), 2, c);
    }
    assert.equal(code('BACKUP_ABORTED'), 3);
    assert.equal(code('NOT_FOUND'), 3);
    assert.equal(code('SINK_FAILED'), 4);
    for (const c of ['CONNECTION_FAILED', 'SERVER_ERROR', 'ARCHIVE_TIMEOUT', 'HOLDER_FAILED', 'INVALID_STATE'] as const) assert.equal(code(c), 1, c);
    assert.equal(exitCodeFor(new Error('boom')), 1);
  });
});
