import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BackupSession, MemorySummaryStore } from '../../src/index.js';

// abort() of an idle session emits `state` and `aborted` without a server.
function idleSession(logged: string[]): BackupSession {
  return new BackupSession({
    id: 'listeners',
    connection: 'postgresql://nobody@127.0.0.1:1/none',
    sinks: [new MemorySummaryStore()],
    logger: (level, message) => logged.push(`${level}: ${message}`),
  });
}

describe('BackupSession listeners: each one’s fault is its own', () => {
  test('a listener that throws neither breaks the session nor skips the listeners after it', async () => {
    const logged: string[] = [];
    const session = idleSession(logged);
    const heard: string[] = [];
    session.on('aborted', () => {
      throw new Error('listener bug');
    });
    session.on('aborted', ({ reason }) => heard.push(`second: ${reason}`));
    session.once('aborted', () => heard.push('once'));
    await session.abort('test');
    assert.equal(session.state, 'aborted');
    assert.deepEqual(heard, ['second: test', 'once']);
    assert.ok(logged.some((l) => /^error: a listener of "aborted" threw: listener bug$/.test(l)), logged.join('\n'));
    assert.equal(session.listenerCount('aborted'), 2, 'the once listener is gone after it ran');
  });

  test('off() removes a listener added with on(), and once() listeners run once', async () => {
    const session = idleSession([]);
    const heard: string[] = [];
    const listener = (): void => void heard.push('removed one ran');
    session.on('state', listener);
    session.off('state', listener);
    session.once('state', ({ to }) => heard.push(to));
    await session.abort('first');
    session.emit('state', { from: 'aborted', to: 'aborted' });
    assert.deepEqual(heard, ['aborted']);
    assert.equal(session.listenerCount('state'), 0);
  });
});
