import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BackupError, MemorySummaryStore } from '../../src/index.js';
import type { BackupSummary, SinkReceipt, SummarySink } from '../../src/index.js';
import { summaryNotSaved } from '../../src/sinks/failure.js';
import { writeToSinks } from '../../src/sinks/fan-out.js';
import { buildSummary } from '../../src/summary/build.js';
import { stopFacts } from '../summary/fixtures.js';

/** Fails every write; counts them. */
class DownSink implements SummarySink {
  calls = 0;
  constructor(
    readonly name: string,
    readonly retriesWrites?: boolean,
    private readonly error: () => Error = () => new Error('store down'),
  ) {}
  async write(): Promise<SinkReceipt> {
    this.calls++;
    throw this.error();
  }
}

const summary: BackupSummary = buildSummary(stopFacts());
const fast = { retries: 2 };

describe('writeToSinks: the one retry layer', () => {
  test('a sink without retries of its own is tried 1 + retries times; one that retries itself, once', async () => {
    const plain = new DownSink('plain:');
    const selfRetrying = new DownSink('self:', true);
    const retried: string[] = [];
    const { receipts, failures } = await writeToSinks(summary, [plain, selfRetrying], { ...fast, onRetry: ({ sink }) => retried.push(sink) });
    assert.equal(plain.calls, 3);
    assert.equal(selfRetrying.calls, 1);
    assert.deepEqual(receipts, [undefined, undefined]);
    assert.deepEqual(failures.map((f) => f.sink), ['plain:', 'self:']);
    assert.deepEqual(retried.sort(), ['plain:', 'plain:', 'plain:', 'self:']);
  });

  test('ALREADY_EXISTS is final: retrying cannot change the other summary', async () => {
    const conflict = new DownSink('conflict:', false, () => new BackupError('ALREADY_EXISTS', 'another summary'));
    const { failures } = await writeToSinks(summary, [conflict], fast);
    assert.equal(conflict.calls, 1);
    assert.equal(failures[0]?.error.message, 'another summary');
  });

  test('the sinks that work get the summary while another fails', async () => {
    const good = new MemorySummaryStore();
    const written: string[] = [];
    const { receipts, failures } = await writeToSinks(summary, [good, new DownSink('down:', true)], { ...fast, onWritten: (sink) => written.push(sink) });
    assert.equal(receipts[0]?.written, true);
    assert.equal(failures.length, 1);
    assert.deepEqual(written, [good.name]);
    assert.deepEqual(await good.get(summary.id), summary);
  });
});

describe('SINK_FAILED, worded once', () => {
  test('with a spool path it says where the summary is kept; without, it carries backup_label itself', () => {
    const failures = [{ sink: 's3://b/', error: new Error('down') }];
    const spooled = summaryNotSaved(summary, failures, '/spool/nightly-1');
    assert.equal(spooled.code, 'SINK_FAILED');
    assert.deepEqual(spooled.details, { id: 'nightly-1', spoolPath: '/spool/nightly-1', failedSinks: ['s3://b/'] });
    const lastResort = summaryNotSaved(summary, failures, undefined);
    assert.match(lastResort.message, /the spool could not hold it either/);
    assert.ok(lastResort.message.includes(summary.labelFile));
  });
});
