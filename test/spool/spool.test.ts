import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultSpoolDirectory, deliverSpooled, isBackupError, MemorySummaryStore, resendSpooled, Spool } from '../../src/index.js';
import type { SinkReceipt, SummarySink } from '../../src/index.js';
import { buildSummary } from '../../src/summary/build.js';
import { stopFacts } from '../summary/fixtures.js';

const down: SummarySink = {
  name: 'down:',
  retriesWrites: true,
  write: async (): Promise<SinkReceipt> => {
    throw new Error('still down');
  },
};

describe('the spool', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgsb-spool-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('defaults under XDG_STATE_HOME when it is absolute, else ~/.local/state', () => {
    assert.equal(defaultSpoolDirectory({ XDG_STATE_HOME: '/state' }), '/state/pg-split-backup/spool');
    assert.match(defaultSpoolDirectory({ XDG_STATE_HOME: 'relative' }), /\/\.local\/state\/pg-split-backup\/spool$/);
  });

  test('put, get (checksums verified), list, remove; stop output that made no summary is kept beside', async () => {
    const spool = new Spool({ directory: join(dir, 'a') });
    const summary = buildSummary(stopFacts({ id: 'nightly-1' }));
    assert.equal(await spool.put(summary), join(dir, 'a', 'nightly-1'));
    assert.equal(await spool.put(summary), join(dir, 'a', 'nightly-1'), 'the same summary again is a no-op');
    assert.deepEqual(await spool.get('nightly-1'), summary);
    assert.deepEqual(await spool.list(), ['nightly-1']);
    const raw = await spool.keepRawStopOutput({ id: 'nightly-1', stopLsn: '0/1', labelFile: summary.labelFile, tablespaceMap: '' });
    assert.equal(JSON.parse(await readFile(raw, 'utf8')).labelFile, summary.labelFile);
    assert.deepEqual(await spool.list(), ['nightly-1'], 'raw output is not a summary');
    await spool.remove('nightly-1');
    assert.equal(await spool.has('nightly-1'), false);
  });

  test('deliverSpooled empties the spool once every sink has the summary; a failure keeps it, SINK_FAILED naming the path', async () => {
    const directory = join(dir, 'b');
    const spool = new Spool({ directory });
    const summary = buildSummary(stopFacts());
    await spool.put(summary);
    await assert.rejects(deliverSpooled(summary.id, { sinks: [down], spoolDirectory: directory }), (e) => isBackupError(e, 'SINK_FAILED') && e.details.spoolPath === spool.pathOf(summary.id));
    assert.equal(await spool.has(summary.id), true);
    const sink = new MemorySummaryStore();
    const { receipts } = await deliverSpooled(summary.id, { sinks: [sink], spoolDirectory: directory });
    assert.equal(receipts[0]?.written, true);
    assert.deepEqual(await readdir(directory), []);
  });

  test('resendSpooled delivers every spooled summary, and reports the ones that stay', async () => {
    const directory = join(dir, 'c');
    const spool = new Spool({ directory });
    for (const id of ['nightly-1', 'nightly-2']) await spool.put(buildSummary(stopFacts({ id, labelFile: stopFacts().labelFile.replace('LABEL: nightly-1', `LABEL: ${id}`) })));
    await assert.rejects(resendSpooled({ sinks: [down], spoolDirectory: directory }), (e) => isBackupError(e, 'SINK_FAILED') && (e.details.failed as unknown[]).length === 2);
    const sink = new MemorySummaryStore();
    const { delivered } = await resendSpooled({ sinks: [sink], spoolDirectory: directory });
    assert.deepEqual(delivered.map((d) => d.id), ['nightly-1', 'nightly-2']);
    assert.deepEqual(await sink.list(), ['nightly-1', 'nightly-2']);
    assert.deepEqual(await spool.list(), []);
  });
});
