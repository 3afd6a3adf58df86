import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isBackupError, parseBackupLabel } from '../../src/index.js';

const PG10 = `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
CHECKPOINT LOCATION: 0/2000060
BACKUP METHOD: streamed
BACKUP FROM: master
START TIME: 2026-11-25 02:00:00 UTC
LABEL: nightly-10
`;

const PG15 = `START WAL LOCATION: 0/9000028 (file 000000010000000000000009)
CHECKPOINT LOCATION: 0/9000060
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-11-25 02:00:00 UTC
LABEL: nightly 15 with spaces
START TIMELINE: 1
`;

const PG17_STANDBY_INCREMENTAL = `START WAL LOCATION: 1A/2000028 (file 000000030000001A00000002)
CHECKPOINT LOCATION: 1A/2000080
BACKUP METHOD: streamed
BACKUP FROM: standby
START TIME: 2026-11-25 02:00:00 CET
LABEL: pg_basebackup base backup
START TIMELINE: 3
INCREMENTAL FROM LSN: 19/F000028
INCREMENTAL FROM TLI: 2
`;

describe('parseBackupLabel', () => {
  test('PostgreSQL 10 says master for a primary and has no START TIMELINE', () => {
    assert.deepEqual(parseBackupLabel(PG10), {
      startLsn: '0/2000028',
      startWalFile: '000000010000000000000002',
      checkpointLsn: '0/2000060',
      backupMethod: 'streamed',
      backupFrom: 'primary',
      backupFromRaw: 'master',
      startTime: '2026-11-25 02:00:00 UTC',
      label: 'nightly-10',
    });
  });

  test('PostgreSQL 15 labels carry START TIMELINE and keep spaces in the label', () => {
    const label = parseBackupLabel(PG15);
    assert.equal(label.startTimeline, 1);
    assert.equal(label.label, 'nightly 15 with spaces');
    assert.equal(label.backupFrom, 'primary');
    assert.equal(label.incrementalFromLsn, undefined);
  });

  test('PostgreSQL 17 incremental lines from a standby are read', () => {
    const label = parseBackupLabel(PG17_STANDBY_INCREMENTAL);
    assert.equal(label.backupFrom, 'standby');
    assert.equal(label.startTimeline, 3);
    assert.equal(label.startLsn, '1A/2000028');
    assert.equal(label.incrementalFromLsn, '19/F000028');
    assert.equal(label.incrementalFromTimeline, 2);
  });

  test('unknown lines are ignored; missing or malformed required lines are CORRUPT_SUMMARY', () => {
    assert.equal(parseBackupLabel(`${PG15}SOMETHING NEW: 42\n`).label, 'nightly 15 with spaces');
    const broken = [
      PG15.replace(/^LABEL:.*\n/m, ''),
      PG15.replace('(file 000000010000000000000009)', '(file 0009)'),
      PG15.replace('BACKUP FROM: primary', 'BACKUP FROM: replica'),
      PG15.replace('CHECKPOINT LOCATION: 0/9000060', 'CHECKPOINT LOCATION: nowhere'),
      PG15.replace(/\n/g, '\r\n'),
      '',
    ];
    for (const text of broken) assert.throws(() => parseBackupLabel(text), (e) => isBackupError(e, 'CORRUPT_SUMMARY'), text);
  });
});
