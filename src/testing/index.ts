// The `pg-split-backup/testing` entry point: the conformance suite every SummarySink + LabelStore
// passes, for the author of a store of their own. Runner-agnostic by design: it never imports a
// test runner; the caller hands in its own `describe` and `test` (node:test, vitest, jest, mocha),
// and failures are node:assert errors, which every runner reports.
import assert from 'node:assert/strict';
import { isBackupError } from '../errors.js';
import type { LabelStore, SummarySink } from '../sinks/contract.js';
import type { BackupSummary } from '../summary/summary.js';

/** A store under test, with a way to damage what it holds. One is made per test case. */
export interface StoreFixture {
  /** The store under test, empty. */
  readonly store: SummarySink & LabelStore;
  /** Replaces one stored file's bytes behind the store's back (`backup_label`, `summary.json`, `pg_wal/<segment>`...). */
  corrupt(id: string, fileName: string, body: Buffer): Promise<void>;
  /** Removes what the fixture made; called after each case, passed or failed. */
  cleanup(): Promise<void>;
}

/** What a store can promise beyond the contract. */
export interface StoreAbilities {
  /**
   * Exactly one of several concurrent writers of the same summary reports `written: true`. Needs an
   * atomic create: true for the filesystem; for S3 only where the server honours If-None-Match
   * (s3rver ignores it, so there every such writer may report true).
   * @default true
   */
  readonly exclusiveCreate?: boolean;
}

/** One case of the suite: a name for the runner and a body to run against a fresh fixture. */
export interface StoreConformanceCase {
  /** What the store must do, as a test name. */
  readonly name: string;
  /** Runs the case; rejects with an `AssertionError` (or the store's error) when the store does not conform. */
  run(fixture: StoreFixture): Promise<void>;
}

/**
 * The two functions of a test runner the suite needs, in the shape node:test, vitest, jest and
 * mocha (`it` as `test`) all have.
 */
export interface ConformanceRunner {
  /** Groups the cases, e.g. node:test's or vitest's `describe`. */
  readonly describe: (name: string, body: () => void) => unknown;
  /** Registers one case, e.g. node:test's `test` or mocha's `it`. */
  readonly test: (name: string, body: () => Promise<void>) => unknown;
}

/** Options of {@link runStoreConformance}. */
export interface StoreConformanceOptions extends ConformanceRunner {
  /** The store's name, for the group: `<name>: store conformance`. */
  readonly name: string;
  /** Makes a fresh, empty store for each case. */
  readonly makeFixture: () => Promise<StoreFixture>;
  /** What the store promises beyond the contract. */
  readonly abilities?: StoreAbilities;
}

/** A summary as a PostgreSQL 15 server would produce it, with `id` as its label. */
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

/**
 * The cases of the suite, for a runner that wants to register them itself. Each needs its own
 * fixture; {@link runStoreConformance} does that for you.
 */
export function storeConformanceCases(abilities: StoreAbilities = {}): StoreConformanceCase[] {
  const exclusiveCreate = abilities.exclusiveCreate ?? true;
  const cases: StoreConformanceCase[] = [];
  const kase = (name: string, run: (fixture: StoreFixture) => Promise<void>): void => void cases.push({ name, run });

  kase('write then get returns the same summary, with and without a tablespace_map', async ({ store }) => {
    const plain = sampleSummary('plain-1');
    const withMap = sampleSummary('with-map', { tablespaceMap: '16385 /mnt/ts1\n16386 /mnt/ts\\ 2\n' });
    const r1 = await store.write(plain);
    const r2 = await store.write(withMap);
    assert.equal(r1.written, true);
    assert.equal(r2.written, true);
    assert.match(r1.location, /plain-1\/$/);
    assert.deepEqual(await store.get('plain-1'), plain);
    assert.deepEqual(await store.get('with-map'), withMap);
  });

  kase('writing the same summary again is a no-op; a different one under the ID is ALREADY_EXISTS and leaves the first', async ({ store }) => {
    const first = sampleSummary('once');
    await store.write(first);
    assert.equal((await store.write(first)).written, false);
    await assert.rejects(store.write(sampleSummary('once', { stopLsn: '0/9999999' })), (e) => isBackupError(e, 'ALREADY_EXISTS'));
    assert.deepEqual(await store.get('once'), first);
  });

  kase('get of an unknown ID is NOT_FOUND; has and list see only complete summaries, sorted', async ({ store }) => {
    await assert.rejects(store.get('nothing-here'), (e) => isBackupError(e, 'NOT_FOUND'));
    assert.deepEqual(await store.list(), []);
    for (const id of ['b-2', 'a-1', 'c-3']) await store.write(sampleSummary(id));
    assert.deepEqual(await store.list(), ['a-1', 'b-2', 'c-3']);
    assert.equal(await store.has('b-2'), true);
    assert.equal(await store.has('z-9'), false);
  });

  kase('delete removes a summary', async ({ store }) => {
    await store.write(sampleSummary('doomed'));
    await store.delete!('doomed');
    assert.equal(await store.has('doomed'), false);
    await assert.rejects(store.get('doomed'), (e) => isBackupError(e, 'NOT_FOUND'));
    await store.delete!('doomed');
  });

  kase('invalid IDs are refused with INVALID_ID and nothing is written', async ({ store }) => {
    for (const id of BAD_IDS) {
      await assert.rejects(store.write(sampleSummary(id)), (e) => isBackupError(e, 'INVALID_ID'), JSON.stringify(id));
      await assert.rejects(store.get(id), (e) => isBackupError(e, 'INVALID_ID'), JSON.stringify(id));
    }
    assert.deepEqual(await store.list(), []);
  });

  kase('a changed backup_label or a broken summary.json is CORRUPT_SUMMARY', async ({ store, corrupt }) => {
    await store.write(sampleSummary('bad-label'));
    await corrupt('bad-label', 'backup_label', Buffer.from(sampleSummary('bad-label').labelFile.replace('0/9000028', '0/9000029')));
    await assert.rejects(store.get('bad-label'), (e) => isBackupError(e, 'CORRUPT_SUMMARY') && /backup_label/.test(e.message));
    await store.write(sampleSummary('bad-json'));
    await corrupt('bad-json', 'summary.json', Buffer.from('{"format": 1, "id": "bad-js'));
    await assert.rejects(store.get('bad-json'), (e) => isBackupError(e, 'CORRUPT_SUMMARY'));
  });

  kase('a summary whose backup_label names another backup is refused with INVALID_OPTION', async ({ store }) => {
    const other = sampleSummary('mine', { labelFile: sampleSummary('theirs').labelFile });
    await assert.rejects(store.write(other), (e) => isBackupError(e, 'INVALID_OPTION') && /theirs/.test(e.message));
    assert.equal(await store.has('mine'), false);
  });

  kase('binary attachments (WAL segments, pg_control) round-trip, are checksummed, and only known names are accepted', async ({ store, corrupt }) => {
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
  });

  kase('10 concurrent writers of the same summary all succeed (and exactly one writes, given an atomic create)', async ({ store }) => {
    const summary = sampleSummary('racing-same');
    const receipts = await Promise.all(Array.from({ length: 10 }, () => store.write(summary)));
    const writers = receipts.filter((r) => r.written).length;
    if (exclusiveCreate) assert.equal(writers, 1);
    else assert.ok(writers >= 1);
    assert.deepEqual(await store.get('racing-same'), summary);
  });

  kase('10 concurrent writers of different summaries: exactly one wins, the rest get ALREADY_EXISTS, the winner is stored', async ({ store }) => {
    const candidates = Array.from({ length: 10 }, (_, i) => sampleSummary('racing-diff', { stopLsn: `0/90001${i}0` }));
    const results = await Promise.allSettled(candidates.map((s) => store.write(s)));
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    assert.equal(winners.length, 1, JSON.stringify(results.map((r) => r.status)));
    for (const r of results) if (r.status === 'rejected') assert.ok(isBackupError(r.reason, 'ALREADY_EXISTS'), String(r.reason));
    assert.deepEqual(await store.get('racing-diff'), candidates[winners[0]!]);
  });

  return cases;
}

/**
 * Registers the whole suite with your test runner: one group, one test per case, each on a fresh
 * fixture that is cleaned up afterwards.
 *
 * @example
 * ```ts
 * import { describe, test } from 'node:test'; // or from 'vitest'
 * import { runStoreConformance } from 'pg-split-backup/testing';
 *
 * runStoreConformance({
 *   name: 'MyStore',
 *   describe,
 *   test,
 *   makeFixture: async () => {
 *     const store = new MyStore(await freshBucket());
 *     return { store, corrupt: (id, file, body) => store.overwrite(id, file, body), cleanup: () => store.drop() };
 *   },
 * });
 * ```
 */
export function runStoreConformance(options: StoreConformanceOptions): void {
  const { describe, test, makeFixture } = options;
  describe(`${options.name}: store conformance`, () => {
    for (const c of storeConformanceCases(options.abilities)) {
      test(c.name, async () => {
        const fixture = await makeFixture();
        try {
          await c.run(fixture);
        } finally {
          await fixture.cleanup();
        }
      });
    }
  });
}
