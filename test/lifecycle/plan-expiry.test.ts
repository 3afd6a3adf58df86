// planExpiry is pure: every retention rule is one row of a table, with no server and no store.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isBackupError, planExpiry, walFileName } from '../../src/index.js';
import type { CatalogueBackup, ExpiryInput, ExpiryPlan, ArchiveListingFile, HistoryEntry } from '../../src/index.js';

const SEG = 16 * 1024 * 1024;
const seg = (tli: number, n: number): string => walFileName(tli, BigInt(n) * BigInt(SEG), SEG);
const lsn = (n: number, offset = 0x28): string => {
  const v = BigInt(n) * BigInt(SEG) + BigInt(offset);
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
};
const DAY = 86_400_000;
const NOW = new Date('2026-12-01T00:00:00Z');

interface B {
  id: string;
  tli?: number;
  /** Start timeline, when it differs (a standby that followed a switch). */
  startTli?: number;
  from: number;
  to: number;
  daysAgo: number;
  selfContained?: boolean;
  standby?: boolean;
  system?: string;
}
function backup(b: B): CatalogueBackup {
  const tli = b.tli ?? 1;
  return {
    id: b.id,
    startedAt: new Date(NOW.getTime() - b.daysAgo * DAY - 60_000).toISOString(),
    stoppedAt: new Date(NOW.getTime() - b.daysAgo * DAY).toISOString(),
    startLsn: lsn(b.from),
    stopLsn: lsn(b.to, 0x100),
    startWalFile: seg(b.startTli ?? tli, b.from),
    stopWalFile: seg(tli, b.to),
    timeline: tli,
    walSegmentSize: SEG,
    serverVersion: 150000,
    systemIdentifier: b.system ?? '7000000000000000001',
    backupFrom: b.standby ? 'standby' : 'primary',
    selfContained: b.selfContained ?? false,
    summarySize: 1000,
  };
}
/** Segments from..to on a timeline, 16 MiB each. */
function segs(tli: number, from: number, to: number, skip: number[] = []): ArchiveListingFile[] {
  const out: ArchiveListingFile[] = [];
  for (let n = from; n <= to; n++) if (!skip.includes(n)) out.push({ name: seg(tli, n), size: SEG });
  return out;
}
const hist = (tli: number): ArchiveListingFile => ({ name: `${tli.toString(16).toUpperCase().padStart(8, '0')}.history`, size: 42 });

interface Row {
  name: string;
  backups: B[];
  policy: ExpiryInput['policy'];
  files?: ArchiveListingFile[];
  histories?: [number, HistoryEntry[] | undefined][];
  unreadable?: string[];
  expect: (plan: ExpiryPlan) => void;
}

const removed = (plan: ExpiryPlan): string[] => plan.remove.map((r) => r.id);
const walGone = (plan: ExpiryPlan): string[] => plan.wal!.remove.map((f) => f.name);
const four: B[] = [
  { id: 'b1', from: 2, to: 3, daysAgo: 4 },
  { id: 'b2', from: 5, to: 5, daysAgo: 3 },
  { id: 'b3', from: 8, to: 9, daysAgo: 2 },
  { id: 'b4', from: 11, to: 12, daysAgo: 1 },
];

const ROWS: Row[] = [
  {
    name: 'keepLast 2: the two oldest summaries go, and the WAL before the oldest kept backup\'s start',
    backups: four,
    policy: { keepLast: 2 },
    files: segs(1, 1, 14),
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['b1', 'b2']);
      assert.deepEqual(walGone(plan), [1, 2, 3, 4, 5, 6, 7].map((n) => seg(1, n)));
      assert.equal(plan.wal!.removeBytes, 7 * SEG);
      assert.equal(plan.wal!.keepCount, 7);
    },
  },
  {
    name: 'the oldest kept backup keeps everything after its start, past the newest backup (point-in-time recovery)',
    backups: four,
    policy: { keepLast: 3 },
    files: segs(1, 1, 20),
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['b1']);
      assert.deepEqual(walGone(plan), [1, 2, 3, 4].map((n) => seg(1, n)));
      assert.ok(!walGone(plan).includes(seg(1, 20)));
    },
  },
  {
    name: 'keepLast larger than the catalogue removes nothing',
    backups: four,
    policy: { keepLast: 10 },
    files: segs(1, 2, 12),
    expect: (plan) => {
      assert.deepEqual(removed(plan), []);
      assert.deepEqual(walGone(plan), []);
    },
  },
  {
    name: 'keepWithin: backups that stopped inside the window stay',
    backups: four,
    policy: { keepWithinMs: 2.5 * DAY },
    files: segs(1, 2, 12),
    expect: (plan) => assert.deepEqual(removed(plan), ['b1', 'b2']),
  },
  {
    name: 'keepWithin with nothing inside the window still keeps the newest backup',
    backups: four,
    policy: { keepWithinMs: 1000 },
    files: segs(1, 2, 12),
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['b1', 'b2', 'b3']);
      assert.deepEqual(plan.keep, [{ id: 'b4', reason: 'newest' }]);
      assert.deepEqual(walGone(plan), [2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => seg(1, n)));
    },
  },
  {
    name: 'keepIds keeps those and the newest; an old kept one anchors the WAL',
    backups: four,
    policy: { keepIds: ['b2'] },
    files: segs(1, 2, 12),
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['b1', 'b3']);
      assert.deepEqual(plan.keep, [
        { id: 'b2', reason: 'policy' },
        { id: 'b4', reason: 'newest' },
      ]);
      assert.deepEqual(walGone(plan), [2, 3, 4].map((n) => seg(1, n)));
    },
  },
  {
    name: 'without an archive only summaries are planned',
    backups: four,
    policy: { keepLast: 1 },
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['b1', 'b2', 'b3']);
      assert.equal(plan.wal, undefined);
    },
  },
  {
    name: 'timeline 2 branching after the oldest kept backup\'s start is kept, with its history file and the old timeline after the switch',
    backups: [
      { id: 'old', from: 2, to: 2, daysAgo: 5 },
      { id: 't1', from: 5, to: 6, daysAgo: 4 },
      { id: 't2', tli: 2, from: 9, to: 10, daysAgo: 1 },
    ],
    policy: { keepLast: 2 },
    files: [...segs(1, 1, 9), { name: `${seg(1, 8)}.partial`, size: SEG }, hist(2), ...segs(2, 8, 11)],
    histories: [[2, [{ parent: 1, switchpoint: lsn(8, 0x500) }]]],
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['old']);
      assert.deepEqual(walGone(plan), [1, 2, 3, 4].map((n) => seg(1, n)));
    },
  },
  {
    name: 'a dead branch (timeline 2 left timeline 1 before the oldest kept start) goes, history file included; timeline 3 stays',
    backups: [
      { id: 'a', from: 2, to: 2, daysAgo: 5 },
      { id: 'b', from: 6, to: 6, daysAgo: 3 },
      { id: 'c', tli: 3, from: 10, to: 10, daysAgo: 1 },
    ],
    policy: { keepLast: 2 },
    files: [...segs(1, 1, 8), hist(2), ...segs(2, 3, 5), hist(3), ...segs(3, 8, 11)],
    histories: [
      [2, [{ parent: 1, switchpoint: lsn(3, 0x10) }]],
      [3, [{ parent: 1, switchpoint: lsn(8, 0x10) }]],
    ],
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['a']);
      assert.deepEqual(walGone(plan), [seg(1, 1), seg(1, 2), seg(1, 3), seg(2, 3), seg(1, 4), seg(2, 4), seg(1, 5), seg(2, 5), '00000002.history']);
    },
  },
  {
    name: 'the oldest kept backup on timeline 2: timeline 1 before its start and the old primary\'s timeline 1 after the switch go; 00000002.history stays',
    backups: [
      { id: 'a', from: 2, to: 2, daysAgo: 5 },
      { id: 'b', tli: 2, from: 9, to: 9, daysAgo: 1 },
    ],
    policy: { keepLast: 1 },
    files: [...segs(1, 1, 10), hist(2), ...segs(2, 7, 10)],
    histories: [[2, [{ parent: 1, switchpoint: lsn(7, 0x10) }]]],
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['a']);
      assert.ok(!walGone(plan).includes('00000002.history'));
      assert.deepEqual(walGone(plan), [...[1, 2, 3, 4, 5, 6, 7].map((n) => seg(1, n)), seg(2, 7), seg(2, 8), seg(1, 8), seg(1, 9), seg(1, 10)].sort((x, y) => (x.slice(8) + x.slice(0, 8) < y.slice(8) + y.slice(0, 8) ? -1 : 1)));
    },
  },
  {
    name: 'a kept backup on a branch keeps its own range and what follows it on the branch',
    backups: [
      { id: 'main', from: 6, to: 6, daysAgo: 3 },
      { id: 'branch', tli: 2, from: 5, to: 5, daysAgo: 2 },
      { id: 'newest', from: 9, to: 9, daysAgo: 1 },
    ],
    policy: { keepIds: ['branch'] },
    files: [...segs(1, 1, 10), hist(2), ...segs(2, 4, 6)],
    histories: [[2, [{ parent: 1, switchpoint: lsn(4, 0x10) }]]],
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['main']);
      for (const n of [5, 6]) assert.ok(!walGone(plan).includes(seg(2, n)), seg(2, n));
      assert.ok(walGone(plan).includes(seg(2, 4)));
      assert.ok(!walGone(plan).includes('00000002.history'));
    },
  },
  {
    name: 'timelines newer than every kept backup\'s stay whole (the server may live there now)',
    backups: [
      { id: 'a', from: 2, to: 2, daysAgo: 2 },
      { id: 'b', from: 6, to: 6, daysAgo: 1 },
    ],
    policy: { keepLast: 1 },
    files: [...segs(1, 1, 8), hist(2), ...segs(2, 3, 9)],
    histories: [[2, [{ parent: 1, switchpoint: lsn(3, 0x10) }]]],
    expect: (plan) => assert.deepEqual(walGone(plan), [1, 2, 3, 4, 5].map((n) => seg(1, n))),
  },
  {
    name: 'a self-contained backup needs no archive: a hole in its range refuses nothing, and it still anchors recovery after it',
    backups: [
      { id: 'a', from: 2, to: 2, daysAgo: 3 },
      { id: 'incl', from: 5, to: 6, daysAgo: 2, selfContained: true },
      { id: 'c', from: 9, to: 9, daysAgo: 1 },
    ],
    policy: { keepLast: 2 },
    files: segs(1, 1, 10, [5, 6]),
    expect: (plan) => {
      assert.deepEqual(plan.wal!.refused, []);
      assert.deepEqual(walGone(plan), [1, 2, 3, 4].map((n) => seg(1, n)));
    },
  },
  {
    name: 'a standby backup keeps its own range by the same rule (its start timeline may differ from its end timeline)',
    backups: [
      { id: 'a', from: 2, to: 2, daysAgo: 3 },
      { id: 'standby', tli: 2, startTli: 1, from: 6, to: 8, daysAgo: 2, standby: true },
      { id: 'c', tli: 2, from: 10, to: 10, daysAgo: 1 },
    ],
    policy: { keepLast: 2 },
    files: [...segs(1, 1, 8), hist(2), ...segs(2, 8, 11)],
    histories: [[2, [{ parent: 1, switchpoint: lsn(8, 0x10) }]]],
    expect: (plan) => {
      assert.deepEqual(plan.wal!.refused, []);
      assert.deepEqual(walGone(plan), [1, 2, 3, 4, 5].map((n) => seg(1, n)));
    },
  },
  {
    name: 'refused: a gap inside a kept backup\'s range deletes no WAL at all, and says which file',
    backups: four,
    policy: { keepLast: 2 },
    files: segs(1, 1, 14, [9]),
    expect: (plan) => {
      assert.deepEqual(walGone(plan), []);
      assert.match(plan.wal!.refused.join('\n'), /b3 needs 000000010000000000000009.*gap inside a kept backup's range/);
      assert.deepEqual(removed(plan), ['b1', 'b2'], 'summaries are still planned');
    },
  },
  {
    name: 'a gap outside every kept range is no reason to refuse: it just goes with the rest',
    backups: four,
    policy: { keepLast: 2 },
    files: segs(1, 1, 14, [3]),
    expect: (plan) => {
      assert.deepEqual(plan.wal!.refused, []);
      assert.deepEqual(walGone(plan), [1, 2, 4, 5, 6, 7].map((n) => seg(1, n)));
    },
  },
  {
    name: 'refused: a kept backup on timeline 2 whose history file is missing',
    backups: [
      { id: 'a', from: 2, to: 2, daysAgo: 2 },
      { id: 'b', tli: 2, from: 6, to: 6, daysAgo: 1 },
    ],
    policy: { keepLast: 1 },
    files: [...segs(1, 1, 5), ...segs(2, 5, 7)],
    expect: (plan) => {
      assert.deepEqual(walGone(plan), []);
      assert.match(plan.wal!.refused.join('\n'), /timeline 2, but the archive has no 00000002\.history/);
    },
  },
  {
    name: 'refused: a history file that cannot be parsed',
    backups: four,
    policy: { keepLast: 1 },
    files: [...segs(1, 1, 12), hist(2)],
    histories: [[2, undefined]],
    expect: (plan) => {
      assert.deepEqual(walGone(plan), []);
      assert.match(plan.wal!.refused.join('\n'), /history file of timeline 2 cannot be read/);
    },
  },
  {
    name: 'refused: an unreadable summary (it stays, and which WAL it needs is unknown)',
    backups: four,
    unreadable: ['b0'],
    policy: { keepLast: 1 },
    files: segs(1, 1, 12),
    expect: (plan) => {
      assert.deepEqual(walGone(plan), []);
      assert.ok(plan.keep.some((k) => k.id === 'b0' && k.reason === 'unreadable'));
      assert.match(plan.wal!.refused.join('\n'), /b0 cannot be read/);
    },
  },
  {
    name: 'several clusters: the policy applies per cluster (each keeps its newest), and no WAL is deleted',
    backups: [
      { id: 'x1', from: 2, to: 2, daysAgo: 4, system: '1' },
      { id: 'x2', from: 5, to: 5, daysAgo: 3, system: '1' },
      { id: 'y1', from: 2, to: 2, daysAgo: 2, system: '2' },
      { id: 'y2', from: 4, to: 4, daysAgo: 1, system: '2' },
    ],
    policy: { keepLast: 1 },
    files: segs(1, 1, 6),
    expect: (plan) => {
      assert.deepEqual(removed(plan), ['x1', 'y1']);
      assert.deepEqual(walGone(plan), []);
      assert.match(plan.wal!.refused.join('\n'), /2 clusters/);
    },
  },
  {
    name: 'refused: an empty store says nothing about which WAL is needed',
    backups: [],
    policy: { keepLast: 1 },
    files: segs(1, 1, 6),
    expect: (plan) => {
      assert.deepEqual(walGone(plan), []);
      assert.match(plan.wal!.refused.join('\n'), /no backups/);
    },
  },
  {
    name: 'the newest backup\'s last segment not archived yet is pending, not a gap',
    backups: four,
    policy: { keepLast: 2 },
    files: segs(1, 1, 11),
    expect: (plan) => {
      assert.deepEqual(plan.wal!.refused, []);
      assert.deepEqual(plan.wal!.pending, [seg(1, 12)]);
      assert.equal(walGone(plan).length, 7);
    },
  },
  {
    name: 'compressed, .partial and .backup files go with their segment; files that are not WAL are never touched',
    backups: four,
    policy: { keepLast: 1 },
    files: [
      { name: `${seg(1, 1)}.gz`, size: 10 },
      { name: `${seg(1, 2)}.00000028.backup`, size: 300 },
      { name: `${seg(1, 3)}.partial`, size: SEG },
      { name: 'README', size: 5 },
      { name: `${seg(1, 1)}.tmp`, size: 5 },
      ...segs(1, 11, 12),
    ],
    expect: (plan) => {
      assert.deepEqual(walGone(plan), [`${seg(1, 1)}.gz`, `${seg(1, 2)}.00000028.backup`, `${seg(1, 3)}.partial`]);
      assert.deepEqual([...plan.wal!.other].sort(), [`${seg(1, 1)}.tmp`, 'README']);
    },
  },
  {
    name: 'race with a post: a new backup started after the newest one in the plan has none of its WAL in the plan',
    backups: four,
    policy: { keepLast: 1 },
    files: segs(1, 1, 12),
    expect: (plan) => {
      // The new backup starts at or after b4's start (segment 11): nothing from there on is removed.
      const newest = 11;
      for (const name of walGone(plan)) assert.ok(Number.parseInt(name.slice(16), 16) < newest, name);
    },
  },
];

describe('planExpiry', () => {
  for (const row of ROWS) {
    test(row.name, () => {
      const plan = planExpiry({
        backups: row.backups.map(backup),
        policy: row.policy,
        now: NOW,
        unreadable: (row.unreadable ?? []).map((id) => ({ id, reason: 'CORRUPT_SUMMARY: checksum' })),
        ...(row.files ? { archive: { files: row.files, histories: new Map(row.histories ?? []) } } : {}),
      });
      row.expect(plan);
    });
  }

  test('a running backup (started, not posted) keeps the WAL from its start, even before the oldest kept backup\'s', () => {
    const input = { backups: four.map(backup), policy: { keepLast: 1 }, now: NOW, archive: { files: segs(1, 1, 14), histories: new Map() } } as const;
    assert.deepEqual(walGone(planExpiry(input)), segs(1, 1, 10).map((f) => f.name), 'without it: everything before b4 (segment 11) goes');
    const running = [{ id: 'long-copy', timeline: 1, startLsn: lsn(6), startWalFile: seg(1, 6) }];
    const plan = planExpiry({ ...input, running });
    assert.deepEqual(walGone(plan), segs(1, 1, 5).map((f) => f.name), 'segments 6-10 stay for the running backup');
    assert.deepEqual(plan.wal!.running, ['long-copy']);
    assert.deepEqual(plan.remove.map((r) => r.id), ['b1', 'b2', 'b3'], 'summaries are planned as before');
  });

  test('after a PITR fork: a kept backup left behind on the old timeline keeps that timeline to its end; the new timeline and its history stay for the backup on it', () => {
    // A (1: 2-3), restore of A to 0/4000100 became timeline 2; production went on: B (1: 6-7) after
    // the fork; C (2: 8-9) on the restored server. Timeline 1 archived to 12, timeline 2 from 4 to 10.
    const backups = [
      { id: 'A', from: 2, to: 3, daysAgo: 3 },
      { id: 'B', from: 6, to: 7, daysAgo: 2 },
      { id: 'C', tli: 2, from: 8, to: 9, daysAgo: 1 },
    ].map(backup);
    const files = [...segs(1, 1, 12), hist(2), ...segs(2, 4, 10)];
    const histories = new Map([[2, [{ parent: 1, switchpoint: '0/4000100' }]]]);
    const keep2 = planExpiry({ backups, policy: { keepLast: 2 }, now: NOW, archive: { files, histories } });
    assert.deepEqual(walGone(keep2).sort(), [...segs(1, 1, 5), ...segs(2, 4, 7)].map((f) => f.name).sort(), "B keeps timeline 1 from its start to the archive's end; C keeps timeline 2 from its start");
    assert.deepEqual(keep2.wal!.refused, []);
    const keep1 = planExpiry({ backups, policy: { keepLast: 1 }, now: NOW, archive: { files, histories } });
    assert.deepEqual(walGone(keep1).sort(), [...segs(1, 1, 12), ...segs(2, 4, 7)].map((f) => f.name).sort(), 'with B gone, timeline 1 goes; 00000002.history stays for C');
  });

  test('bad policies and unknown --keep IDs are INVALID_OPTION', () => {
    const backups = four.map(backup);
    for (const policy of [{ keepLast: 0 }, { keepLast: 1.5 }, { keepWithinMs: -1 }, { keepIds: [] }, {}, { keepLast: 1, keepWithinMs: 5 }] as ExpiryInput['policy'][]) {
      assert.throws(() => planExpiry({ backups, policy, now: NOW }), (e) => isBackupError(e, 'INVALID_OPTION'), JSON.stringify(policy));
    }
    assert.throws(() => planExpiry({ backups, policy: { keepIds: ['nope'] }, now: NOW }), (e) => isBackupError(e, 'INVALID_OPTION') && /nope/.test(e.message));
  });
});
