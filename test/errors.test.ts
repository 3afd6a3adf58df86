import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { BackupError, ErrorCode, isBackupError } from '../src/index.js';

test('docs/errors.md documents exactly the codes the library has', async () => {
  const doc = await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, Object.values(ErrorCode).sort());
});

test('isBackupError recognises a BackupError by brand, also one made by another copy of the class', () => {
  const error = new BackupError('SINK_FAILED', 'x', { details: { spoolPath: '/s' } });
  assert.equal(isBackupError(error, 'SINK_FAILED'), true);
  assert.equal(isBackupError(error, 'NOT_FOUND'), false);
  assert.deepEqual(error.toJSON(), { code: 'SINK_FAILED', message: 'x', details: { spoolPath: '/s' } });
  const foreign = runInNewContext('const e = new Error("y"); e.code = "NOT_FOUND"; e[Symbol.for("pg-split-backup.BackupError")] = true; e');
  assert.equal(isBackupError(foreign, 'NOT_FOUND'), true);
  assert.equal(isBackupError(Object.assign(new Error('z'), { code: 'NOT_FOUND' })), false);
  assert.equal(isBackupError(null), false);
});
