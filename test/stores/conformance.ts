import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isBackupError } from '../../src/index.js';
import type { BackupSummary, LabelStore, SummarySink } from '../../src/index.js';

/** A store under test, with a way to damage what it holds. */
export interface StoreFixture {
  readonly store: SummarySink & LabelStore;
  /** Replaces one stored file's bytes behind the store's back. */
  corrupt(id: string, fileName: string, body: Buffer): Promise<void>;
  cleanup(): Promise<void>;
}

/** A summary as a PostgreSQL 15 server would produce it. */
export function sampleSummary(id: string, overrides: Partial<BackupSummary> = {}): BackupSummary {
  return {
    id,
    labelFile: `START WAL LOCATION: 0/9000028 (file 000000010000000000000009)\nCHECKPOINT LOCATION: 0/9000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-11-25 02:00:00 UTC\nLABEL: ${id}\nSTART TIMELINE: 1\n`,
    tablespaceMap: '',
    startLsn: '0/9000028',
    stopLsn: '0/9000138',
    startWalFile: '000000010000000000000009',
    stopWalFile: '000000010000000000000009',
    timeline: 1,
    walSegmentSize: 16 * 1024 * 1024,
    serverVersion: 150018,
    systemIdentifier: '7441234567890123456',
    backupFrom: 'primary',
    startedAt: '2026-11-25T02:00:00.000Z',
    stoppedAt: '2026-11-25T02:05:00.000Z',
    tool: { name: 'pg-split-backup', version: '0.1.0' },
    ...overrides,
  };
}

const BAD_IDS = ['', '..', '../escape', 'a/b', 'a\\b', '-rf', '.hidden', 'x'.repeat(201), 'nul\0byte', 'new\nline', 'ünïcode', 'a..b', ' space'];

/** What a store can promise beyond the contract. */
export interface StoreAbilities {
  /**
   * Exactly one of several concurrent writers of the same summary reports `written: true`. Needs an
   * atomic create: true for the filesystem; for S3 only where the server honours If-None-Match
   * (s3rver ignores it, so there every such writer may report true).
   */
  readonly exclusiveCreate: boolean;
}

/** The behaviour every SummarySink + LabelStore must have. Each adapter's test file runs it. */
export function runStoreConformance(name: string, makeFixture: () => Promise<StoreFixture>, abilities: StoreAbilities = { exclusiveCreate: true }): void {
  describe(`${name}: store conformance`, () => {
    const withStore = (fn: (f: StoreFixture) => Promise<void>) => async () => {
      const fixture = await makeFixture();
      try {
        await fn(fixture);
      } finally {
        await fixture.cleanup();
      }
    };

    test('write then get returns the same summary, with and without a tablespace_map', withStore(async ({ store }) => {
      const plain = sampleSummary('plain-1');
      const withMap = sampleSummary('with-map', { tablespaceMap: '16385 /mnt/ts1\n16386 /mnt/ts\\ 2\n' });
      const r1 = await store.write(plain);
      const r2 = await store.write(withMap);
      assert.equal(r1.written, true);
      assert.equal(r2.written, true);
      assert.match(r1.location, /plain-1\/$/);
      assert.deepEqual(await store.get('plain-1'), plain);
      assert.deepEqual(await store.get('with-map'), withMap);
    }));

    test('writing the same summary again is a no-op; a different one under the ID is ALREADY_EXISTS and leaves the first', withStore(async ({ store }) => {
      const first = sampleSummary('once');
      await store.write(first);
      assert.equal((await store.write(first)).written, false);
      await assert.rejects(store.write(sampleSummary('once', { stopLsn: '0/9999999' })), (e) => isBackupError(e, 'ALREADY_EXISTS'));
      assert.deepEqual(await store.get('once'), first);
    }));

    test('get of an unknown ID is NOT_FOUND; has and list see only complete summaries, sorted', withStore(async ({ store }) => {
      await assert.rejects(store.get('nothing-here'), (e) => isBackupError(e, 'NOT_FOUND'));
      assert.deepEqual(await store.list(), []);
      for (const id of ['b-2', 'a-1', 'c-3']) await store.write(sampleSummary(id));
      assert.deepEqual(await store.list(), ['a-1', 'b-2', 'c-3']);
      assert.equal(await store.has('b-2'), true);
      assert.equal(await store.has('z-9'), false);
    }));

    test('delete removes a summary', withStore(async ({ store }) => {
      await store.write(sampleSummary('doomed'));
      await store.delete!('doomed');
      assert.equal(await store.has('doomed'), false);
      await assert.rejects(store.get('doomed'), (e) => isBackupError(e, 'NOT_FOUND'));
      await store.delete!('doomed');
    }));

    test('invalid IDs are refused with INVALID_ID and nothing is written', withStore(async ({ store }) => {
      for (const id of BAD_IDS) {
        await assert.rejects(store.write(sampleSummary(id)), (e) => isBackupError(e, 'INVALID_ID'), JSON.stringify(id));
        await assert.rejects(store.get(id), (e) => isBackupError(e, 'INVALID_ID'), JSON.stringify(id));
      }
      assert.deepEqual(await store.list(), []);
    }));

    test('a changed backup_label or a broken summary.json is CORRUPT_SUMMARY', withStore(async ({ store, corrupt }) => {
      await store.write(sampleSummary('bad-label'));
      await corrupt('bad-label', 'backup_label', Buffer.from(sampleSummary('bad-label').labelFile.replace('0/9000028', '0/9000029')));
      await assert.rejects(store.get('bad-label'), (e) => isBackupError(e, 'CORRUPT_SUMMARY') && /backup_label/.test(e.message));
      await store.write(sampleSummary('bad-json'));
      await corrupt('bad-json', 'summary.json', Buffer.from('{"format": 1, "id": "bad-js'));
      await assert.rejects(store.get('bad-json'), (e) => isBackupError(e, 'CORRUPT_SUMMARY'));
    }));

    test('a summary whose backup_label names another backup is refused with INVALID_OPTION', withStore(async ({ store }) => {
      const other = sampleSummary('mine', { labelFile: sampleSummary('theirs').labelFile });
      await assert.rejects(store.write(other), (e) => isBackupError(e, 'INVALID_OPTION') && /theirs/.test(e.message));
      assert.equal(await store.has('mine'), false);
    }));

    test('binary attachments (WAL segments, pg_control) round-trip, are checksummed, and only known names are accepted', withStore(async ({ store, corrupt }) => {
      const segment = Buffer.alloc(64 * 1024, 7);
      segment.writeUInt32LE(0xd10d, 0);
      const summary = sampleSummary('carries-wal', {
        attachments: [
          { name: 'pg_wal/000000010000000000000009', body: segment },
          { name: 'global/pg_control', body: Buffer.from([1, 2, 3, 0, 255]) },
        ],
      });
      await store.write(summary);
      const back = await store.get('carries-wal');
      assert.deepEqual(back.attachments?.map((a) => a.name), ['global/pg_control', 'pg_wal/000000010000000000000009']);
      assert.ok(back.attachments?.[1]?.body.equals(segment));
      await corrupt('carries-wal', 'pg_wal/000000010000000000000009', Buffer.alloc(64 * 1024, 8));
      await assert.rejects(store.get('carries-wal'), (e) => isBackupError(e, 'CORRUPT_SUMMARY') && /pg_wal\/000000010000000000000009/.test(e.message));
      await assert.rejects(store.write(sampleSummary('bad-attachment', { attachments: [{ name: '../../etc/passwd', body: Buffer.from('x') }] })), (e) => isBackupError(e, 'INVALID_OPTION'));
      assert.equal(await store.has('bad-attachment'), false);
    }));

    test('10 concurrent writers of the same summary all succeed (and exactly one writes, given an atomic create)', withStore(async ({ store }) => {
      const summary = sampleSummary('racing-same');
      const receipts = await Promise.all(Array.from({ length: 10 }, () => store.write(summary)));
      const writers = receipts.filter((r) => r.written).length;
      if (abilities.exclusiveCreate) assert.equal(writers, 1);
      else assert.ok(writers >= 1);
      assert.deepEqual(await store.get('racing-same'), summary);
    }));

    test('10 concurrent writers of different summaries: exactly one wins, the rest get ALREADY_EXISTS, the winner is stored', withStore(async ({ store }) => {
      const candidates = Array.from({ length: 10 }, (_, i) => sampleSummary('racing-diff', { stopLsn: `0/90001${i}0` }));
      const results = await Promise.allSettled(candidates.map((s) => store.write(s)));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(winners.length, 1, JSON.stringify(results.map((r) => r.status)));
      for (const r of results) if (r.status === 'rejected') assert.ok(isBackupError(r.reason, 'ALREADY_EXISTS'), String(r.reason));
      assert.deepEqual(await store.get('racing-diff'), candidates[winners[0]!]);
    }));
  });
}
