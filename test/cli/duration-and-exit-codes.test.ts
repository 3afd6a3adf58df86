import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration, parseDuration } from '../../src/cli/duration.js';
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

  test('archive-get: 126 for an untrusted file, and for a failure marked stopsRecovery (outside a standby); WAL_NOT_FOUND stays 1', () => {
    assert.equal(exitCodeFor(new BackupError('DECRYPTION_FAILED', 'x'), 'archive-get'), 126);
    assert.equal(exitCodeFor(new BackupError('DECRYPTION_FAILED', 'x'), 'verify'), 2);
    assert.equal(exitCodeFor(new BackupError('ARCHIVE_FAILED', 'x'), 'archive-get'), 1, 'unmarked (a standby): PostgreSQL asks again');
    assert.equal(exitCodeFor(new BackupError('ARCHIVE_FAILED', 'x', { details: { stopsRecovery: true } }), 'archive-get'), 126);
    assert.equal(exitCodeFor(new BackupError('ARCHIVE_FAILED', 'x', { details: { stopsRecovery: true } }), 'archive-push'), 1, 'only archive-get answers a recovery');
    assert.equal(exitCodeFor(new BackupError('WAL_NOT_FOUND', 'x'), 'archive-get'), 1);
  });
});
