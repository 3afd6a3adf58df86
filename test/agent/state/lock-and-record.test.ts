import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { acquireLock, liveLockHolder, readLock, releaseLock } from '../../../src/agent/state/lock.js';
import { isRunning, selfIdentity } from '../../../src/agent/state/process.js';
import { holderRunning, isActiveState, listRecords, readRecord, writeRecord, type BackupRecord } from '../../../src/agent/state/record.js';
import { sampleRecord } from '../fixtures.js';
import { agentPaths, checkRuntimeDir, ensureRuntimeDir } from '../../../src/agent/state/runtime-dir.js';
import { isBackupError } from '../../../src/index.js';

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

const record = (id: string, extra: Partial<BackupRecord> = {}): BackupRecord => sampleRecord({ id, pid: process.pid, ...extra });

describe('agent state: runtime directory, lock, record, process identity', () => {
  let dir: string;
  before(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'pgsb-state-')), 'rt');
  });
  after(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  test('the runtime directory is created 0700 and refused once group or others may write it', async () => {
    assert.equal(await checkRuntimeDir(dir), false);
    await ensureRuntimeDir(dir);
    assert.equal(await checkRuntimeDir(dir), true);
    const open = join(dir, '..', 'open');
    await ensureRuntimeDir(open);
    await chmod(open, 0o777);
    await assert.rejects(checkRuntimeDir(open), (e) => isBackupError(e, 'UNSAFE_RUNTIME_DIR') && /writable by group or others/.test(e.message));
  });

  test('one lock per ID: a second taker gets ALREADY_EXISTS; a dead holder\'s lock (and socket) is taken over', async () => {
    const paths = agentPaths(dir, 'locked');
    await acquireLock(paths, 'locked');
    assert.equal((await liveLockHolder(paths))?.pid, process.pid);
    await assert.rejects(acquireLock(paths, 'locked'), (e) => isBackupError(e, 'ALREADY_EXISTS') && e.details.pid === process.pid);
    await releaseLock(paths);
    assert.equal(await readLock(paths.lock), undefined);

    await writeFile(paths.lock, JSON.stringify({ id: 'locked', pid: deadPid() }));
    await writeFile(paths.socket, '');
    assert.equal(await liveLockHolder(paths), undefined);
    await acquireLock(paths, 'locked');
    assert.equal((await readLock(paths.lock))?.pid, process.pid);
    assert.ok(!(await readdir(dir)).includes('locked.sock'), 'the stale socket went with the stale lock');
    await releaseLock(paths);
  });

  test('releaseLock leaves a lock another process took', async () => {
    const paths = agentPaths(dir, 'theirs');
    await writeFile(paths.lock, JSON.stringify({ id: 'theirs', pid: 1 }));
    await releaseLock(paths);
    assert.equal((await readLock(paths.lock))?.pid, 1);
  });

  test('records round-trip; listRecords skips what is not a record of a valid ID', async () => {
    await writeRecord(agentPaths(dir, 'r1').record, record('r1'));
    await writeRecord(agentPaths(dir, 'r2').record, record('r2', { state: 'aborted', reason: 'test' }));
    await writeFile(join(dir, 'garbage.json'), '{not json');
    await writeFile(join(dir, '~bad id.json'), JSON.stringify(record('x')));
    assert.deepEqual(await readRecord(agentPaths(dir, 'r1').record), record('r1'));
    assert.equal(await readRecord(join(dir, 'garbage.json')), undefined);
    assert.deepEqual((await listRecords(dir)).map((r) => [r.id, r.state]), [['r1', 'running'], ['r2', 'aborted']]);
    assert.deepEqual((['running', 'stopping', 'stopped', 'aborted', 'lost'] as const).map(isActiveState), [true, true, false, false, false]);
  });

  test('a process is running only while it exists and started when its identity says', () => {
    const self = selfIdentity();
    assert.equal(isRunning(self), true);
    assert.equal(isRunning({ pid: deadPid() }), false);
    assert.equal(isRunning(undefined), false);
    assert.equal(isRunning({ pid: -1 }), false);
    if (self.startTicks !== undefined) {
      assert.equal(isRunning({ pid: process.pid, startTicks: `${self.startTicks}0` }), false, 'same pid, another start: not our holder');
      assert.equal(holderRunning(record('r', { startTicks: `${self.startTicks}0` })), false);
    }
    assert.equal(holderRunning(record('r')), true);
  });
});
