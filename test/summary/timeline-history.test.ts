// The timeline rules restore, verify and info share (issue 18), on hand-made histories: the shapes
// a point-in-time recovery leaves (a fork before or after a backup, a double fork, a missing or
// unreadable history file). The real-server run is test/restore/timeline-fork.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  chooseRecoveryTimeline,
  chooseTargetTimeline,
  isBackupError,
  latestTimeline,
  parseTargetTimeline,
  parseTimelineHistory,
  restorableTimelines,
  timelineContains,
  timelinePathFiles,
  type HistoryEntry,
} from '../../src/index.js';
import { recoveryLines } from '../../src/restore/recovery-config.js';
import { confSetting } from '../../src/restore/archive-hazard.js';

const MiB = 1024 * 1024;
type Histories = Map<number, readonly HistoryEntry[] | undefined>;
// Timeline 2 left 1 at 0/4000100 (a PITR of A to a restore point); 3 left 1 at 0/8000000 (a PITR of B).
const forked: Histories = new Map([
  [2, [{ parent: 1, switchpoint: '0/4000100' }]],
  [3, [{ parent: 1, switchpoint: '0/8000000' }]],
]);
const A = { id: 'A', timeline: 1, stopLsn: '0/3000100' }; // before both forks
const B = { id: 'B', timeline: 1, stopLsn: '0/6000100' }; // after the first fork, before the second
const C = { id: 'C', timeline: 2, stopLsn: '0/7000100' }; // on timeline 2

describe('which timelines hold a backup', () => {
  test('a timeline that left the backup\'s after it ends holds it; one that left before does not, and says where', () => {
    assert.deepEqual(timelineContains(2, A, forked), { contains: true });
    assert.deepEqual(timelineContains(2, B, forked), { contains: false, forkedAt: '0/4000100', forkedFrom: 1 });
    assert.deepEqual(timelineContains(3, B, forked), { contains: true });
    assert.deepEqual(timelineContains(1, B, forked), { contains: true });
  });

  test('a fork inside the backup (after its checkpoint, before its end) does not hold it: recovery would switch before consistency', () => {
    const mid: Histories = new Map([[2, [{ parent: 1, switchpoint: '0/6000000' }]]]);
    assert.equal(timelineContains(2, B, mid).contains, false);
    assert.equal(timelineContains(2, { ...B, stopLsn: '0/6000000' }, mid).contains, true); // ends exactly at the switch
  });

  test('a sibling branch never passes through the backup\'s timeline', () => {
    assert.deepEqual(timelineContains(3, C, forked), { contains: false, forkedAt: '0/8000000', forkedFrom: 1 });
    assert.deepEqual(restorableTimelines(C, forked), [2]);
    assert.deepEqual(restorableTimelines(A, forked), [1, 2, 3]);
    assert.deepEqual(restorableTimelines(B, forked), [1, 3]);
  });

  test('a missing or unreadable history file is unknown, never "holds"', () => {
    const unreadable: Histories = new Map([[2, undefined]]);
    assert.deepEqual(timelineContains(2, A, unreadable), { contains: false, unknown: true });
    assert.deepEqual(timelineContains(5, A, forked), { contains: false, unknown: true });
  });

  test('latest is the highest history file reachable without a hole, as PostgreSQL probes', () => {
    assert.equal(latestTimeline(1, forked), 3);
    assert.equal(latestTimeline(1, new Map([[2, []], [4, []]])), 2);
    assert.equal(latestTimeline(3, forked), 3);
  });
});

describe('the default recovery timeline', () => {
  test('latest when the newest timeline holds the backup', () => {
    assert.equal(chooseTargetTimeline(A, forked, 15).setting, 'latest');
    assert.equal(chooseTargetTimeline(A, forked, 15).timeline, 3);
    assert.equal(chooseTargetTimeline(A, new Map(), 15).setting, 'latest');
  });

  test("the backup's own timeline when every newer one forked before it ends: current on 12+, its number on 10-11", () => {
    const only2: Histories = new Map([[2, forked.get(2)]]);
    const on15 = chooseTargetTimeline(B, only2, 15);
    assert.equal(on15.setting, 'current');
    assert.equal(on15.timeline, 1);
    assert.match(on15.reason, /forked off timeline 1 at 0\/4000100, before the backup ends at 0\/6000100/);
    assert.equal(chooseTargetTimeline(B, only2, 11).setting, 1);
  });

  test('the newest timeline that holds it, by number, when that is not the newest of all', () => {
    // Timeline 4 branched off 2 (holds C); 5 branched off 1 before C existed on 2.
    const tree: Histories = new Map([...forked, [4, [{ parent: 1, switchpoint: '0/4000100' }, { parent: 2, switchpoint: '0/9000000' }]], [5, [{ parent: 1, switchpoint: '0/8000000' }]]]);
    const choice = chooseTargetTimeline(C, tree, 15);
    assert.equal(choice.setting, 4);
    assert.equal(choice.timeline, 4);
  });

  test('a timeline whose way is not archived is passed over', () => {
    const choice = chooseTargetTimeline(A, forked, 15, (tli) => tli !== 3);
    assert.equal(choice.setting, 2);
    assert.match(choice.reason, /lacks WAL on the way to the newest timeline 3/);
  });

  test('without history files (restore command only): latest, unchecked', () => {
    const choice = chooseRecoveryTimeline({ summary: B, major: 15 });
    assert.deepEqual([choice.setting, choice.checked], ['latest', false]);
    assert.equal(chooseRecoveryTimeline({ summary: B, major: 11, asked: 'current' }).setting, 1);
  });
});

describe('a timeline asked for', () => {
  const refused = (asked: 'latest' | 'current' | number, histories: Histories, summary = B): string => {
    try {
      chooseRecoveryTimeline({ summary, major: 15, asked, histories });
    } catch (error) {
      assert.ok(isBackupError(error, 'TIMELINE_UNREACHABLE'), String(error));
      return error.message;
    }
    assert.fail(`timeline ${asked} was not refused`);
  };

  test('one that cannot hold the backup is refused, naming the fork point', () => {
    assert.match(refused(2, forked), /timeline 2 left timeline 1 at 0\/4000100, before backup B ends at 0\/6000100/);
    assert.match(refused('latest', new Map([[2, forked.get(2)]])), /timeline 2 \(the latest\)/);
    assert.match(refused(3, forked, C), /branched off timeline 1 at 0\/8000000 and never passes through timeline 2/);
  });

  test('one without a history file in the archive is refused; an older timeline too', () => {
    assert.match(refused(7, forked), /the archive has no 00000007\.history/);
    assert.match(refused(1, forked, C), /older than the backup's timeline 2/);
  });

  test('one that holds it is written as asked', () => {
    assert.equal(chooseRecoveryTimeline({ summary: B, major: 15, asked: 3, histories: forked }).setting, 3);
    assert.equal(chooseRecoveryTimeline({ summary: B, major: 15, asked: 'current', histories: forked }).setting, 'current');
    assert.equal(chooseRecoveryTimeline({ summary: B, major: 10, asked: 'current', histories: forked }).setting, 1);
  });

  test('bad values are INVALID_OPTION', () => {
    for (const bad of ['abc', '0', '-1', '1.5', '', '4294967296', 0, -2, 1.5, null]) {
      assert.throws(() => parseTargetTimeline(bad), (e: unknown) => isBackupError(e, 'INVALID_OPTION'), String(bad));
    }
    assert.equal(parseTargetTimeline('12'), 12);
    assert.equal(parseTargetTimeline('latest'), 'latest');
  });
});

describe('the WAL on the way to a timeline', () => {
  const summary = { id: 'A', stopWalFile: '000000010000000000000003', walSegmentSize: 16 * MiB };
  test('the history file, the old timeline up to the switch segment, then the new timeline from it', () => {
    // The switch (0/4000100) is in segment 4, right after the backup's last: timeline 2's copy of 4 is read.
    assert.deepEqual(timelinePathFiles(summary, 2, forked), ['00000002.history', '000000020000000000000004']);
    assert.deepEqual(timelinePathFiles(summary, 3, forked), [
      '00000003.history',
      '000000010000000000000004',
      '000000010000000000000005',
      '000000010000000000000006',
      '000000010000000000000007',
      '000000030000000000000008',
    ]);
    assert.deepEqual(timelinePathFiles(summary, 1, forked), []);
  });

  test('through an intermediate timeline', () => {
    const deep: Histories = new Map([[3, [{ parent: 1, switchpoint: '0/5000000' }, { parent: 2, switchpoint: '0/6800000' }]]]);
    assert.deepEqual(timelinePathFiles(summary, 3, deep), ['00000003.history', '000000010000000000000004', '000000020000000000000005', '000000030000000000000006']);
  });
});

describe('recovery settings', () => {
  test('recovery_target_timeline is written as chosen, latest on 10-11 when none is, and current is refused before 12', () => {
    assert.ok(recoveryLines({ restoreCommand: 'cp x %p', targetTimeline: 'current' }, 15).includes("recovery_target_timeline = 'current'"));
    assert.ok(recoveryLines({ restoreCommand: 'cp x %p', targetTimeline: 'latest' }, 16).includes("recovery_target_timeline = 'latest'"));
    assert.ok(recoveryLines({ restoreCommand: 'cp x %p' }, 10).includes("recovery_target_timeline = 'latest'"));
    assert.ok(!recoveryLines({ restoreCommand: 'cp x %p' }, 16).some((l) => l.startsWith('recovery_target_timeline')));
    assert.ok(recoveryLines({ restoreCommand: 'cp x %p', targetTimeline: 1 }, 11).includes("recovery_target_timeline = '1'"));
    assert.throws(() => recoveryLines({ targetTimeline: 'current' }, 11), (e: unknown) => isBackupError(e, 'INVALID_OPTION'));
  });

  test('a restore_command PostgreSQL 10-12 would cut at 1023 bytes is refused there, with %f and %p at their longest; 13+ take it', () => {
    const fits = `cp /wal/%f %p # ${'x'.repeat(1023 - 'cp /wal/ pg_wal/RECOVERYHISTORY # '.length - 40)}`;
    assert.ok(recoveryLines({ restoreCommand: fits }, 12).some((l) => l.startsWith('restore_command')));
    assert.throws(() => recoveryLines({ restoreCommand: `${fits}x` }, 12), (e: unknown) => isBackupError(e, 'INVALID_OPTION') && /1023/.test((e as Error).message));
    assert.throws(() => recoveryLines({ restoreCommand: 'cp /wal/%f %p ' + '%%'.repeat(1010) }, 10), (e: unknown) => isBackupError(e, 'INVALID_OPTION'));
    assert.ok(recoveryLines({ restoreCommand: 'cp /wal/%f %p ' + '%%'.repeat(500) }, 10).length > 0, '%% is one byte');
    assert.ok(recoveryLines({ restoreCommand: `${fits}${'x'.repeat(2000)}` }, 13).length > 0);
  });

  test('history files parse as PostgreSQL writes them', () => {
    assert.deepEqual(parseTimelineHistory('1\t0/4000100\tat restore point "fork"\n'), [{ parent: 1, switchpoint: '0/4000100' }]);
    assert.equal(parseTimelineHistory('1 nonsense\n'), undefined);
  });

  test("a copy's archive_command is read as the configuration parser reads it, the last one winning", () => {
    const conf = "archive_mode = on\narchive_command = 'cp %p /old/%f'\n# archive_command = 'x'\narchive_command = 'test ! -f ''/arch ive''/%f && cp %p /arch\\\\ive/%f' # comment\n";
    assert.equal(confSetting(conf, 'archive_command'), "test ! -f '/arch ive'/%f && cp %p /arch\\ive/%f");
    assert.equal(confSetting(conf, 'archive_mode'), 'on');
    assert.equal(confSetting(conf, 'restore_command'), undefined);
  });
});
