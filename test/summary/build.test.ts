import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isBackupError } from '../../src/index.js';
import { buildSummary, withAttachments } from '../../src/summary/build.js';
import { stopFacts } from './fixtures.js';

describe('buildSummary: a stopped backup as a summary, without a server', () => {
  test('takes the start from backup_label and names the stop segment from the stop LSN', () => {
    const summary = buildSummary(stopFacts());
    assert.equal(summary.startLsn, '0/9000028');
    assert.equal(summary.startWalFile, '000000010000000000000009');
    assert.equal(summary.stopWalFile, '000000010000000000000009');
    assert.equal(summary.timeline, 1);
    assert.equal(summary.backupFrom, 'primary');
    assert.equal('attachments' in summary, false);
  });

  test('a stop LSN on a segment boundary names the segment before it', () => {
    assert.equal(buildSummary(stopFacts({ stopLsn: '0/A000000' })).stopWalFile, '000000010000000000000009');
  });

  test('a standby backup whose minimum recovery point is past the stop LSN (and on a later timeline) needs the WAL up to it', () => {
    const summary = buildSummary(stopFacts({ recoveryEnd: { timeline: 2, lsn: '0/B000010' } }));
    assert.equal(summary.stopWalFile, '00000002000000000000000B');
    assert.equal(summary.stopLsn, '0/9000138', 'the stop LSN itself stays what the server returned');
    // An unset minimum recovery point (timeline 0, LSN before the stop) changes nothing.
    assert.equal(buildSummary(stopFacts({ recoveryEnd: { timeline: 0, lsn: '0/0' } })).stopWalFile, '000000010000000000000009');
  });

  test('a label for another backup is refused with SERVER_ERROR', () => {
    assert.throws(() => buildSummary(stopFacts({ id: 'other' })), (e) => isBackupError(e, 'SERVER_ERROR') && /"nightly-1", not for other/.test(e.message));
  });

  test('withAttachments freezes, and leaves out an empty attachment list', () => {
    const summary = buildSummary(stopFacts());
    assert.equal('attachments' in withAttachments(summary, []), false);
    const attached = withAttachments(summary, [{ name: 'global/pg_control', body: Buffer.from('x') }]);
    assert.equal(attached.attachments?.length, 1);
    assert.ok(Object.isFrozen(attached) && Object.isFrozen(attached.attachments));
  });
});
