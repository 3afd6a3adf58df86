import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { agentPaths, MAX_SOCKET_PATH, resolveRuntimeDir } from '../../../src/agent/state/runtime-dir.js';
import { isBackupError } from '../../../src/index.js';

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
