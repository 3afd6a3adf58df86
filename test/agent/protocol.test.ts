import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  configMessage,
  decodeConfigMessage,
  decodeLine,
  decodeRequest,
  encodeProgress,
  encodeRequest,
  encodeResponse,
  PROTOCOL_VERSION,
  type HolderConfig,
  type HolderRequest,
  type HolderResponse,
  type HolderStatus,
} from '../../src/agent/protocol.js';
import type { BackupRecord } from '../../src/agent/state/record.js';
import { isBackupError, summaryOverview } from '../../src/index.js';
import { buildSummary } from '../../src/summary/build.js';
import { stopFacts } from '../summary/fixtures.js';
import { sampleRecord, sampleStatus } from './fixtures.js';

const status: HolderStatus = sampleStatus();

const record: BackupRecord = sampleRecord({ state: 'stopped', endedAt: '2026-12-01T10:05:00.000Z' });

const line = (text: string): string => {
  assert.ok(text.endsWith('\n') && !text.slice(0, -1).includes('\n'), 'one line');
  return text.slice(0, -1);
};

describe('holder protocol: requests', () => {
  test('every request survives encode then decode, with the protocol version on the wire', () => {
    const requests: HolderRequest[] = [{ op: 'status' }, { op: 'stop' }, { op: 'stop', progress: true }, { op: 'abort' }, { op: 'abort', reason: 'maintenance' }];
    for (const request of requests) {
      const encoded = line(encodeRequest(request));
      assert.equal(JSON.parse(encoded).v, PROTOCOL_VERSION);
      assert.deepEqual(decodeRequest(encoded), request);
    }
  });

  test('the wire is what holders of version 1 have always read', () => {
    assert.equal(line(encodeRequest({ op: 'stop', progress: true })), '{"v":1,"op":"stop","progress":true}');
    assert.equal(line(encodeRequest({ op: 'abort', reason: 'r' })), '{"v":1,"op":"abort","reason":"r"}');
  });

  test('not JSON, another version, an unknown op: INVALID_OPTION saying which', () => {
    const refused = (text: string, message: RegExp): void =>
      assert.throws(() => decodeRequest(text), (e) => isBackupError(e, 'INVALID_OPTION') && message.test(e.message), text);
    refused('{nope', /not JSON/);
    refused('null', /Unsupported protocol version undefined/);
    refused('{"v":2,"op":"status"}', /Unsupported protocol version 2 \(this holder speaks 1\)/);
    refused('{"v":1,"op":"explode"}', /Unknown request "explode"/);
  });

  test('stray fields are dropped: a non-string reason, a progress that is not true', () => {
    assert.deepEqual(decodeRequest('{"v":1,"op":"abort","reason":42}'), { op: 'abort' });
    assert.deepEqual(decodeRequest('{"v":1,"op":"stop","progress":"yes"}'), { op: 'stop' });
  });
});

describe('holder protocol: answers', () => {
  const responses: HolderResponse[] = [
    { kind: 'status', backup: status },
    {
      kind: 'stopped',
      id: 'b1',
      summary: summaryOverview(buildSummary(stopFacts({ id: 'b1', labelFile: stopFacts().labelFile.replace('LABEL: nightly-1', 'LABEL: b1') }))),
      receipts: [{ location: 'file:///s/b1/', written: true }],
    },
    { kind: 'ended', record },
    { kind: 'aborted', id: 'b1', reason: 'maintenance' },
    { kind: 'failed', error: { code: 'SINK_FAILED', message: 'no sink', details: { spoolPath: '/spool/b1' } } },
  ];

  test('every answer survives encode then decode', () => {
    for (const response of responses) assert.deepEqual(decodeLine(line(encodeResponse(response))), response);
  });

  test('an answer whose payload lacks a field of its type is refused, not taken on trust', () => {
    const wire = JSON.parse(line(encodeResponse(responses[1]!))) as Record<string, unknown>;
    const { stopWalFile: _dropped, ...summary } = wire.summary as Record<string, unknown>;
    assert.throws(() => decodeLine(JSON.stringify({ ...wire, summary })), /no known kind/);
    const { heldForMs: _gone, ...backup } = status;
    assert.throws(() => decodeLine(JSON.stringify({ v: 1, ok: true, backup })), /no known kind/);
    assert.throws(() => decodeLine(JSON.stringify({ v: 1, ok: true, id: 'b1', state: 'stopped', summary: wire.summary, receipts: [{ location: 1 }] })), /no known kind/);
  });

  test('the wire keeps the version 1 shape (ok, state), so clients and holders of either side of an upgrade agree', () => {
    assert.deepEqual(JSON.parse(line(encodeResponse(responses[0]!))), { v: 1, ok: true, backup: status });
    assert.deepEqual(JSON.parse(line(encodeResponse(responses[2]!))), { v: 1, ok: true, id: 'b1', state: 'stopped', record });
    assert.deepEqual(JSON.parse(line(encodeResponse(responses[3]!))), { v: 1, ok: true, id: 'b1', state: 'aborted', reason: 'maintenance' });
    assert.deepEqual(JSON.parse(line(encodeResponse(responses[4]!))).ok, false);
  });

  test('progress lines decode as progress', () => {
    const progress = { phase: 'archive', message: 'waiting', elapsedMs: 3000 } as const;
    assert.deepEqual(decodeLine(line(encodeProgress(progress))), { kind: 'progress', progress });
  });

  test('what this version does not understand is an error, not a guess', () => {
    for (const text of ['{"v":2,"ok":true,"backup":{}}', '{"v":1,"ok":true}', '{"v":1,"ok":false}', '{"v":1}', '{"v":1,"ok":"yes"}', '{"v":1,"ok":true,"record":{"v":7,"id":"b1"}}']) {
      assert.throws(() => decodeLine(text), Error, text);
    }
    assert.throws(() => decodeLine('not json'), SyntaxError);
  });
});

describe('holder protocol: the IPC configuration', () => {
  const config: HolderConfig = { id: 'b1', runtimeDir: '/run/rt', sinks: ['file:///s'], connection: {}, fast: true, maxHoldMs: 0, waitForArchive: true };

  test('the message pre sends is the configuration the holder reads', () => {
    assert.deepEqual(decodeConfigMessage(JSON.parse(JSON.stringify(configMessage(config)))), config);
  });

  test('anything else is refused: another version, another type, a config missing its ID', () => {
    assert.equal(decodeConfigMessage({ ...configMessage(config), v: 2 }), undefined);
    assert.equal(decodeConfigMessage({ type: 'start', v: 1, config }), undefined);
    assert.equal(decodeConfigMessage({ type: 'config', v: 1, config: { ...config, id: undefined } }), undefined);
    assert.equal(decodeConfigMessage(undefined), undefined);
  });
});
