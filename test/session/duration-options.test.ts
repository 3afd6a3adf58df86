import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BackupSession, isBackupError } from '../../src/index.js';
import { resolveOptions } from '../../src/session/options.js';

const base = { id: 'durations', connection: 'postgresql://localhost/postgres', sinks: [] } as const;

test('durations are milliseconds under ...Ms names; the older names still work and mean the same', () => {
  const named = resolveOptions({ ...base, archiveTimeoutMs: 60_000, heartbeatIntervalMs: 500, maxHoldMs: 3_600_000 });
  const older = resolveOptions({ ...base, archiveTimeout: 60_000, heartbeatInterval: 500, maxHold: 3_600_000 });
  for (const resolved of [named, older]) {
    assert.equal(resolved.archiveTimeout, 60_000);
    assert.equal(resolved.heartbeatInterval, 500);
    assert.equal(resolved.maxHold, 3_600_000);
  }
  const defaults = resolveOptions(base);
  assert.deepEqual([defaults.archiveTimeout, defaults.heartbeatInterval, defaults.maxHold], [600_000, 10_000, 0]);
  // Both names with the same value is not a conflict.
  assert.equal(resolveOptions({ ...base, maxHoldMs: 5000, maxHold: 5000 }).maxHold, 5000);
});

test('a bad or conflicting duration is INVALID_OPTION naming the option as it was given', () => {
  assert.throws(() => new BackupSession({ ...base, heartbeatIntervalMs: 50 }), (e) => isBackupError(e, 'INVALID_OPTION') && /heartbeatIntervalMs/.test(e.message));
  assert.throws(() => new BackupSession({ ...base, heartbeatInterval: 50 }), (e) => isBackupError(e, 'INVALID_OPTION') && /heartbeatInterval must/.test(e.message));
  assert.throws(() => new BackupSession({ ...base, archiveTimeoutMs: -1 }), (e) => isBackupError(e, 'INVALID_OPTION') && /archiveTimeoutMs/.test(e.message));
  assert.throws(
    () => new BackupSession({ ...base, maxHoldMs: 1000, maxHold: 2000 }),
    (e) => isBackupError(e, 'INVALID_OPTION') && /maxHoldMs and maxHold/.test(e.message) && (e.details as { option?: string }).option === 'maxHoldMs',
  );
});
