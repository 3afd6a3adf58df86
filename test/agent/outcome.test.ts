import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  abortedEnding,
  crashedEnding,
  deadHolderRecord,
  endedResponse,
  failedStopEnding,
  lostEnding,
  notHeldError,
  notRunningError,
  stoppedEnding,
  stoppedRecordFailures,
  type FailedStop,
} from '../../src/agent/outcome.js';
import type { BackupRecord } from '../../src/agent/state/record.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { BackupError } from '../../src/index.js';
import { sampleRecord } from './fixtures.js';

const running: BackupRecord = sampleRecord({ pid: 4242, sinks: ['file:///a', 'file:///b'], waitForArchive: true });
const stop: FailedStop = { id: 'b1', serverStopped: false, sessionAborted: false, savedTo: [], waitForArchive: true };
const ENDED_AT = '2026-12-01T11:00:00.000Z';

/** The CLI's exit code for what a client is told about a record. */
function clientExit(record: BackupRecord): number {
  const answer = endedResponse(record);
  return answer.kind === 'failed' ? exitCodeFor(new BackupError(answer.error.code, answer.error.message)) : 0;
}

describe('how a held backup ends (the holder side)', () => {
  test('a stop that went through: stopped, exit 0, with the stop LSN and where the summary is', () => {
    const ending = stoppedEnding({ stopLsn: '0/3000000', stopWalFile: '000000010000000000000003', summaryLocations: ['file:///a/b1/'] });
    assert.deepEqual(ending, { update: { state: 'stopped', stopLsn: '0/3000000', stopWalFile: '000000010000000000000003', summaryLocations: ['file:///a/b1/'] }, exitCode: 0 });
  });

  test('sinks failed after the server stopped: stopped with SINK_FAILED (not a tombstone), exit 1, and the WAL archive still to be confirmed', () => {
    const failure = new BackupError('SINK_FAILED', 'no sink took it', { details: { spoolPath: '/spool/b1' } });
    const ending = failedStopEnding(failure, { ...stop, serverStopped: true, savedTo: ['file:///a/b1/'] });
    assert.equal(ending.exitCode, 1);
    assert.equal(ending.update.state, 'stopped');
    assert.deepEqual(ending.update.summaryLocations, ['file:///a/b1/']);
    assert.equal(ending.update.error?.code, 'SINK_FAILED');
    assert.equal(ending.update.archiveError?.code, 'SERVER_ERROR');
    assert.match(ending.update.archiveError!.message, /verify --id b1/);
  });

  test('the archive error the session gave is kept; none when the WAL was archived or nobody waits for it', () => {
    const archiveError = { code: 'ARCHIVE_TIMEOUT' as const, message: 'not archived', details: {} };
    assert.deepEqual(failedStopEnding(new BackupError('SINK_FAILED', 'x', { details: { archiveError } }), { ...stop, serverStopped: true }).update.archiveError, archiveError);
    assert.equal(failedStopEnding(new BackupError('SINK_FAILED', 'x', { details: { walArchived: true } }), { ...stop, serverStopped: true }).update.archiveError, undefined);
    assert.equal(failedStopEnding(new BackupError('SINK_FAILED', 'x'), { ...stop, serverStopped: true, waitForArchive: false }).update.archiveError, undefined);
    assert.equal(failedStopEnding(new BackupError('ARCHIVE_TIMEOUT', 'x'), { ...stop, serverStopped: true }).update.archiveError, undefined);
  });

  test('a stop that failed before the server stopped: lost (or aborted) with the reason, exit 3', () => {
    const lost = failedStopEnding(new BackupError('BACKUP_ABORTED', 'gone', { details: { reason: 'the session was terminated' } }), stop);
    assert.deepEqual([lost.update.state, lost.update.reason, lost.exitCode], ['lost', 'the session was terminated', 3]);
    const aborted = failedStopEnding(new BackupError('CONNECTION_FAILED', 'reset'), { ...stop, sessionAborted: true });
    assert.deepEqual([aborted.update.state, aborted.update.reason, aborted.exitCode], ['aborted', 'reset', 3]);
  });

  test('aborted as asked exits 0; a lost session 3; a crash 1, naming it', () => {
    assert.deepEqual(abortedEnding('maintenance'), { update: { state: 'aborted', reason: 'maintenance' }, exitCode: 0 });
    const lost = lostEnding('heartbeat unanswered', new BackupError('BACKUP_ABORTED', 'lost'));
    assert.deepEqual([lost.update.state, lost.update.error?.code, lost.exitCode], ['lost', 'BACKUP_ABORTED', 3]);
    const crashed = crashedEnding(new BackupError('HOLDER_FAILED', 'boom'));
    assert.deepEqual([crashed.update.state, crashed.update.reason, crashed.exitCode], ['lost', 'the holder process crashed: boom', 1]);
  });
});

describe('a holder that died without ending its backup', () => {
  const found = { inSpool: false, spoolPath: '/spool/b1', inEverySink: false };

  test('died while held: lost, the server aborted the backup', () => {
    const settled = deadHolderRecord(running, found, ENDED_AT);
    assert.equal(settled.state, 'lost');
    assert.equal(settled.endedAt, ENDED_AT);
    assert.match(settled.reason!, /pid 4242\) ended without stopping the backup/);
    assert.equal(clientExit(settled), 3);
  });

  test('died while stopping with the summary in the spool: stopped, SINK_FAILED naming the spool, the archive unconfirmed', () => {
    const settled = deadHolderRecord({ ...running, state: 'stopping' }, { ...found, inSpool: true }, ENDED_AT);
    assert.equal(settled.state, 'stopped');
    assert.equal(settled.error?.code, 'SINK_FAILED');
    assert.equal(settled.error?.details?.spoolPath, '/spool/b1');
    assert.equal(settled.archiveError?.code, 'HOLDER_FAILED');
    assert.equal(settled.archiveError?.details?.summarySaved, true);
  });

  test('died while stopping with the summary in every sink: stopped, no error but the archive unconfirmed (none with --no-wait-archive)', () => {
    const settled = deadHolderRecord({ ...running, state: 'stopping' }, { ...found, inEverySink: true }, ENDED_AT);
    assert.deepEqual([settled.state, settled.error, settled.summaryLocations], ['stopped', undefined, running.sinks]);
    assert.equal(settled.archiveError?.code, 'HOLDER_FAILED');
    assert.equal(deadHolderRecord({ ...running, state: 'stopping', waitForArchive: false }, { ...found, inEverySink: true }, ENDED_AT).archiveError, undefined);
  });

  test('died while stopping with the summary nowhere: lost, the stop unfinished', () => {
    const settled = deadHolderRecord({ ...running, state: 'stopping' }, found, ENDED_AT);
    assert.equal(settled.state, 'lost');
    assert.match(settled.reason!, /without finishing the stop/);
  });
});

describe('what a client is told about an ended backup', () => {
  test('stopped cleanly: the record (post reports it again, exit 0)', () => {
    const stopped: BackupRecord = { ...running, state: 'stopped', endedAt: ENDED_AT };
    assert.deepEqual(endedResponse(stopped), { kind: 'ended', record: stopped });
    assert.deepEqual(stoppedRecordFailures(stopped), {});
  });

  test('stopped with an error: that error, and its exit code (SINK_FAILED 4, ARCHIVE_TIMEOUT 1)', () => {
    const sinkFailed: BackupRecord = { ...running, state: 'stopped', error: { code: 'SINK_FAILED', message: 'x', details: {} } };
    assert.equal(clientExit(sinkFailed), 4);
    const timedOut: BackupRecord = { ...running, state: 'stopped', error: { code: 'ARCHIVE_TIMEOUT', message: 'x', details: {} } };
    assert.equal(clientExit(timedOut), 1);
  });

  test('after a delivery, SINK_FAILED no longer stands; another error does, and the archive error comes after the summary is read', () => {
    const archiveError = { code: 'HOLDER_FAILED' as const, message: 'died', details: {} };
    assert.deepEqual(stoppedRecordFailures({ ...running, state: 'stopped', error: { code: 'SINK_FAILED', message: 'x', details: {} }, archiveError }), { archiveError });
    const timedOut = { code: 'ARCHIVE_TIMEOUT' as const, message: 'x', details: {} };
    assert.deepEqual(stoppedRecordFailures({ ...running, state: 'stopped', error: timedOut }), { error: timedOut });
  });

  test('aborted or lost: BACKUP_ABORTED (exit 3) with the state, the time and the reason', () => {
    const tombstone: BackupRecord = { ...running, state: 'aborted', reason: 'maintenance', endedAt: ENDED_AT };
    const error = notRunningError(tombstone);
    assert.equal(error.code, 'BACKUP_ABORTED');
    assert.equal(error.message, `Backup b1 is not valid: it was aborted at ${ENDED_AT}: maintenance`);
    assert.deepEqual(error.details, { id: 'b1', state: 'aborted', reason: 'maintenance', endedAt: ENDED_AT });
    assert.equal(exitCodeFor(error), 3);
    assert.equal(clientExit(tombstone), 3);
    // No reason recorded: the error's message, else the state.
    assert.match(notRunningError({ ...running, state: 'lost', error: { code: 'BACKUP_ABORTED', message: 'terminated', details: {} } }).message, /: terminated$/);
    assert.match(notRunningError({ ...running, state: 'lost' }).message, /: lost$/);
  });

  test('abort or status of a backup stopped with its summary: NOT_FOUND (exit 3), saying so; of a tombstone: BACKUP_ABORTED', () => {
    const stopped: BackupRecord = { ...running, state: 'stopped', endedAt: ENDED_AT };
    const abort = notHeldError(stopped, 'abort');
    assert.equal(abort.code, 'NOT_FOUND');
    assert.equal(abort.message, `Backup b1 is not running: it was stopped at ${ENDED_AT} with its summary; there is nothing to abort.`);
    assert.deepEqual(abort.details, { id: 'b1', state: 'stopped' });
    assert.equal(notHeldError(stopped, 'status').message, `Backup b1 is not running: it was stopped at ${ENDED_AT}.`);
    assert.equal(exitCodeFor(abort), 3);
    assert.equal(notHeldError({ ...running, state: 'lost', endedAt: ENDED_AT }, 'status').code, 'BACKUP_ABORTED');
  });
});
