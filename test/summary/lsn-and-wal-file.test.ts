import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  compareLsn,
  formatLsn,
  isBackupError,
  isLsn,
  isWalFileName,
  parseLsn,
  parseWalFileName,
  stopWalFileName,
  timelineHistoryFileName,
  walFileName,
  walFileRange,
} from '../../src/index.js';

const MiB = 1024 * 1024;

describe('LSNs', () => {
  test('parse and format round-trip as PostgreSQL prints them', () => {
    assert.equal(parseLsn('0/2000028'), 0x2000028n);
    assert.equal(parseLsn('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
    assert.equal(parseLsn('16/b374d848'), parseLsn('16/B374D848'));
    assert.equal(formatLsn(0x2000028n), '0/2000028');
    assert.equal(formatLsn((0x16n << 32n) | 0xb374d848n), '16/B374D848');
    assert.equal(formatLsn(0n), '0/0');
    assert.equal(formatLsn(parseLsn('FFFFFFFF/FFFFFFFF')), 'FFFFFFFF/FFFFFFFF');
  });

  test('garbage is refused with INVALID_OPTION', () => {
    for (const bad of ['', '0', '0/', '/0', '0/123456789', 'G/0', '0/0/0', ' 0/1', '0x1/2']) {
      assert.equal(isLsn(bad), false, bad);
      assert.throws(() => parseLsn(bad), (e) => isBackupError(e, 'INVALID_OPTION'), bad);
    }
    assert.throws(() => formatLsn(-1n), (e) => isBackupError(e, 'INVALID_OPTION'));
  });

  test('compare orders by position, not by text', () => {
    assert.equal(compareLsn('0/A', '0/9'), 1);
    assert.equal(compareLsn('1/0', '0/FFFFFFFF'), 1);
    assert.equal(compareLsn('0/2000028', 0x2000028n), 0);
    assert.equal(compareLsn('0/1', '0/2'), -1);
  });
});

describe('WAL file names', () => {
  test('16 MiB segments: timeline, log id and segment in upper-case hex', () => {
    assert.equal(walFileName(1, '0/2000028', 16 * MiB), '000000010000000000000002');
    assert.equal(walFileName(10, '16/B374D848', 16 * MiB), '0000000A00000016000000B3');
    assert.equal(walFileName(1, 'FFFFFFFF/FFFFFFFF', 16 * MiB), '00000001FFFFFFFF000000FF');
  });

  test('other segment sizes change how many segments a log id holds', () => {
    assert.equal(walFileName(1, '1/00100000', MiB), '000000010000000100000001');
    assert.equal(walFileName(1, '0/FFFFFFFF', MiB), '000000010000000000000FFF');
    assert.equal(walFileName(1, '0/4000000', 64 * MiB), '000000010000000000000001');
    assert.equal(walFileName(1, '0/C0000000', 1024 * MiB), '000000010000000000000003');
  });

  test('the stop file is the segment of the byte before the stop LSN (a boundary names the previous segment)', () => {
    assert.equal(stopWalFileName(1, '0/3000000', 16 * MiB), '000000010000000000000002');
    assert.equal(stopWalFileName(1, '0/3000001', 16 * MiB), '000000010000000000000003');
    assert.equal(stopWalFileName(1, '1/0', 16 * MiB), '0000000100000000000000FF');
    assert.equal(stopWalFileName(2, '0/1', 16 * MiB), '000000020000000000000000');
    assert.throws(() => stopWalFileName(1, '0/0', 16 * MiB), (e) => isBackupError(e, 'INVALID_OPTION'));
  });

  test('a range lists every segment from start through stop', () => {
    assert.deepEqual(walFileRange(1, '0/2000028', '0/4000100', 16 * MiB), [
      '000000010000000000000002',
      '000000010000000000000003',
      '000000010000000000000004',
    ]);
    assert.deepEqual(walFileRange(1, '0/FF000028', '1/1000000', 16 * MiB), ['0000000100000000000000FF', '000000010000000100000000']);
    assert.deepEqual(walFileRange(1, '0/2000028', '0/2000100', 16 * MiB), ['000000010000000000000002']);
    assert.throws(() => walFileRange(1, '0/0', 'FFFFFFFF/0', MiB), (e) => isBackupError(e, 'INVALID_OPTION'));
  });

  test('parse inverts walFileName', () => {
    assert.deepEqual(parseWalFileName('0000000A00000016000000B3', 16 * MiB), { timeline: 10, segmentNumber: 0x16n * 256n + 0xb3n });
    assert.throws(() => parseWalFileName('000000010000000000000100', 16 * MiB), (e) => isBackupError(e, 'INVALID_OPTION'));
    assert.equal(isWalFileName('000000010000000000000002'), true);
    assert.equal(isWalFileName('000000010000000000000002.partial'), false);
    assert.equal(isWalFileName('00000001000000000000000g'), false);
  });

  test('bad sizes and timelines are refused', () => {
    for (const size of [0, 1000, 512 * 1024, 3 * MiB, 2048 * MiB]) {
      assert.throws(() => walFileName(1, '0/0', size), (e) => isBackupError(e, 'INVALID_OPTION'), String(size));
    }
    for (const tli of [0, -1, 1.5, 2 ** 32]) {
      assert.throws(() => walFileName(tli, '0/0', 16 * MiB), (e) => isBackupError(e, 'INVALID_OPTION'), String(tli));
    }
    assert.equal(timelineHistoryFileName(2), '00000002.history');
    assert.equal(timelineHistoryFileName(26), '0000001A.history');
  });
});
