// Recovery targets are checked before restore writes anything: every time we accept is one the
// server parses (checked against a real server), and the values users get wrong are refused.
import assert from 'node:assert/strict';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isBackupError } from '../../src/index.js';
import { assertRecoveryTarget, quoteConfValue, targetTimeProblem } from '../../src/restore/recovery-config.js';
import { smokeMajor, TestCluster } from '../harness/index.js';

const ACCEPTED = [
  '2026-11-25',
  '2026-11-25 03:00',
  '2026-11-25 03:00:00',
  '2026-11-25 03:00:00.123456',
  '2026-11-25T03:00:00Z',
  '2026-11-25 03:00:00+00',
  '2026-11-25 03:00:00+05:30',
  '2026-11-25 03:00:00-0800',
  '2026-11-25 03:00:00 UTC',
  '2026-11-25 03:00 Europe/Berlin',
  '2024-02-29 23:59:59',
];
const REFUSED = ['yesterday 3pm', '2026-13-45 25:61', '2026-02-30 03:00', '2026-11-25 24:00:01', 'now', 'infinity', '25.11.2026', '2026-11-25 03:00 Mars/Olympus', '2026-11-25 03:00:00+16', ''];

describe('recovery targets', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ major: smokeMajor(), archive: false, name: 'targets' });
  });
  after(async () => {
    await cluster?.destroy();
  });

  test('a value quoteConfValue writes is the value the server reads (quotes and backslashes, as in a quoted sh line)', async () => {
    const values = ["it's", "'\\''", 'C:\\new\\table', '\\\\x', `[ -f q/%f ] && mv -f q/%f "%p" || cmd --archive 's3://b/it'\\''s'`];
    const lines = values.map((value, i) => `pgsb_test.v${i} = ${quoteConfValue(value)}\n`).join('');
    await appendFile(join(cluster.dataDir, 'postgresql.conf'), lines);
    await cluster.query('SELECT pg_reload_conf()');
    for (let i = 0; i < values.length; i++) {
      let seen: string | null = null;
      for (let tries = 0; tries < 100 && seen === null; tries++) {
        [{ v: seen } = { v: null }] = await cluster.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [`pgsb_test.v${i}`]);
        if (seen === null) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(seen, values[i]);
    }
  });

  test('every time form assertRecoveryTarget accepts, the server parses as a timestamptz', async () => {
    for (const time of ACCEPTED) {
      assert.equal(targetTimeProblem(time), undefined, time);
      assert.doesNotThrow(() => assertRecoveryTarget({ time }), time);
      const [row] = await cluster.query<{ t: string }>('SELECT $1::timestamptz::text AS t', [time]);
      assert.ok(row!.t, time);
    }
  });

  test('times that are not dates, not real days or times, or in an unknown zone are INVALID_OPTION naming --target-time, with an example', () => {
    for (const time of REFUSED) {
      assert.throws(
        () => assertRecoveryTarget({ time }),
        (e) => isBackupError(e, 'INVALID_OPTION') && e.details?.option === 'target-time' && /e\.g\. '2026-11-25 03:00:00\+00'/.test(e.message),
        time,
      );
    }
  });

  test('xid, name, lsn and immediate: each checked the way PostgreSQL reads it', () => {
    const refused = (target: Parameters<typeof assertRecoveryTarget>[0], stopLsn?: string): boolean => {
      try {
        assertRecoveryTarget(target, stopLsn);
        return false;
      } catch (error) {
        return isBackupError(error, 'INVALID_OPTION');
      }
    };
    assert.equal(refused({ xid: '7453' }), false);
    assert.equal(refused({ xid: '18446744073709551615' }), false);
    assert.equal(refused({ xid: '18446744073709551616' }), true);
    assert.equal(refused({ xid: '-1' }), true);
    assert.equal(refused({ xid: '0x10' }), true);
    assert.equal(refused({ name: 'before-migration' }), false);
    assert.equal(refused({ name: 'n'.repeat(63) }), false);
    assert.equal(refused({ name: 'é'.repeat(32) }), true, '64 bytes');
    assert.equal(refused({ name: '' }), true);
    assert.equal(refused({ lsn: '0/5000000' }), false);
    assert.equal(refused({ lsn: 'soon' }), true);
    assert.equal(refused({ lsn: '0/5000000' }, '0/5000000'), false, 'the stop LSN itself is consistent');
    assert.equal(refused({ lsn: '0/4FFFFFF' }, '0/5000000'), true, 'before the backup is consistent');
    assert.equal(refused({ immediate: true }), false);
  });
});
