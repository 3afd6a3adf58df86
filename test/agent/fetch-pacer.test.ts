// FetchPacer: the prefetcher's downloads start spaced so that they end in turn, not in batches.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FetchPacer } from '../../src/agent/fetch-pacer.js';

/**
 * A prefetcher on a host whose downloads share one resource (CPU or bandwidth) equally: each
 * download needs `work` ms of it alone. Starts a download whenever the pacer (and `parallel`)
 * allows, 1 ms steps; returns when each of `count` downloads ended.
 */
function simulate(pace: boolean, parallel: number, count: number, work = 100): number[] {
  const pacer = new FetchPacer(parallel);
  const running: { left: number; startedAt: number }[] = [];
  const ends: number[] = [];
  let started = 0;
  for (let now = 0; ends.length < count; now += 1) {
    while (started < count && running.length < parallel && (!pace || pacer.mayStart(now, running.length))) {
      running.push({ left: work, startedAt: now });
      pacer.started(now);
      started += 1;
    }
    const share = 1 / running.length;
    for (const d of running) d.left -= share;
    for (const d of running.filter((x) => x.left <= 1e-9)) {
      running.splice(running.indexOf(d), 1);
      ends.push(now + 1);
      pacer.downloaded(now + 1 - d.startedAt);
    }
  }
  return ends;
}

/** The longest time between two downloads ending, after the first. */
const longestGap = (ends: number[]): number => Math.max(...ends.slice(1).map((t, i) => t - ends[i]!));

describe('FetchPacer', () => {
  test('one download at a time until one has ended: the first segment gets the whole line', () => {
    const pacer = new FetchPacer(4);
    assert.equal(pacer.mayStart(0, 0), true);
    pacer.started(0);
    assert.equal(pacer.mayStart(10_000, 1), false, 'no estimate yet: the first runs alone');
    assert.equal(pacer.spacingMs, undefined);
    pacer.downloaded(400);
    assert.equal(pacer.spacingMs, 100, 'a quarter of a download with 4 in flight');
    assert.equal(pacer.mayStart(50, 1), false);
    assert.equal(pacer.mayStart(100, 1), true);
    assert.equal(pacer.mayStart(100, 0), true, 'nothing in flight: always');
  });

  test('the estimate follows the recent downloads', () => {
    const pacer = new FetchPacer(2);
    pacer.downloaded(100);
    pacer.downloaded(1000);
    assert.ok(pacer.spacingMs! > 50 && pacer.spacingMs! < 500, String(pacer.spacingMs));
    for (let i = 0; i < 30; i += 1) pacer.downloaded(1000);
    assert.ok(Math.abs(pacer.spacingMs! - 500) < 1, String(pacer.spacingMs));
  });

  test('on a shared line, unpaced downloads end in batches of `parallel`; paced ones end in turn at the same rate', () => {
    const batches = simulate(false, 4, 40);
    const paced = simulate(true, 4, 40);
    // Unpaced: four end together, then nothing for four downloads' worth of the line.
    assert.ok(longestGap(batches) >= 390, `unpaced gap ${longestGap(batches)}`);
    // Paced: after the start, one ends about every download's worth of the line, never four at once.
    assert.ok(longestGap(paced.slice(4)) <= 200, `paced gap ${longestGap(paced.slice(4))}`);
    // The same work done in about the same time (the line is full either way).
    assert.ok(paced.at(-1)! <= batches.at(-1)! * 1.1, `paced ${paced.at(-1)} vs ${batches.at(-1)}`);
    // The first download alone lands in a quarter of the time a batch takes.
    assert.ok(paced[0]! <= batches[0]! / 3, `first ${paced[0]} vs ${batches[0]}`);
  });
});
