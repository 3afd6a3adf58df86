import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FilesystemSummaryStore } from '../../src/index.js';
import { runStoreConformance, sampleSummary } from '../../src/testing/index.js';

runStoreConformance({
  name: 'FilesystemSummaryStore',
  describe,
  test,
  makeFixture: async () => {
    const directory = await mkdtemp(join(tmpdir(), 'pgsb-fs-store-'));
    return {
      store: new FilesystemSummaryStore({ directory: join(directory, 'summaries') }),
      corrupt: (id, name, body) => writeFile(join(directory, 'summaries', id, name), body),
      cleanup: () => rm(directory, { recursive: true, force: true }),
    };
  },
});

describe('FilesystemSummaryStore specifics', () => {
  test('files are 0600 in 0700 directories, and no temp files are left', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'pgsb-fs-modes-'));
    try {
      const root = join(directory, 'summaries');
      await new FilesystemSummaryStore({ directory: root }).write(sampleSummary('modes', { tablespaceMap: '16385 /ts\n' }));
      assert.equal((await stat(root)).mode & 0o777, 0o700);
      assert.equal((await stat(join(root, 'modes'))).mode & 0o777, 0o700);
      for (const name of ['backup_label', 'tablespace_map', 'summary.json']) assert.equal((await stat(join(root, 'modes', name))).mode & 0o777, 0o600, name);
      assert.deepEqual(await readdir(root), ['modes']);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('a leftover temp directory from a crashed writer is ignored, and a directory without summary.json is not a summary', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'pgsb-fs-leftover-'));
    try {
      const store = new FilesystemSummaryStore({ directory });
      await mkdir(join(directory, '.tmp-crashed-abc123'));
      await writeFile(join(directory, '.tmp-crashed-abc123', 'backup_label'), 'partial');
      await mkdir(join(directory, 'incomplete'));
      await writeFile(join(directory, 'incomplete', 'backup_label'), 'partial');
      await store.write(sampleSummary('complete'));
      assert.deepEqual(await store.list(), ['complete']);
      assert.equal(await store.has('incomplete'), false);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('an ID can never reach outside the directory', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'pgsb-fs-escape-'));
    try {
      const store = new FilesystemSummaryStore({ directory: join(directory, 'inner') });
      await assert.rejects(store.write(sampleSummary('../outside')));
      assert.deepEqual(await readdir(directory), []);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
