import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyExclusionList, copyExclusions, isBackupError } from '../../src/index.js';
import { runOk } from '../harness/index.js';
import { assertCopy, plant, tree } from './exclusion-tree.js';

describe('copy exclusions', () => {
  test('tar with the generated patterns leaves out exactly the excluded files and keeps the rest', async () => {
    const work = await mkdtemp(join(tmpdir(), 'pgsb-excl-tar-'));
    try {
      const pgdata = join(work, 'pgdata');
      await plant(pgdata);
      const patterns = join(work, 'excludes');
      await writeFile(patterns, copyExclusions({ major: 17, format: 'tar' }));
      await runOk('tar', ['-C', pgdata, '-cf', join(work, 'copy.tar'), `--exclude-from=${patterns}`, '.']);
      const out = join(work, 'out');
      await mkdir(out);
      await runOk('tar', ['-C', out, '-xf', join(work, 'copy.tar')]);
      assertCopy(await tree(out));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  test('rsync with the generated filter file leaves out exactly the excluded files and keeps the rest', async () => {
    const work = await mkdtemp(join(tmpdir(), 'pgsb-excl-rsync-'));
    try {
      const pgdata = join(work, 'pgdata');
      await plant(pgdata);
      const filter = join(work, 'filter');
      await writeFile(filter, copyExclusions({ major: 17, format: 'rsync' }));
      await runOk('rsync', ['-a', `--filter=merge ${filter}`, `${pgdata}/`, `${join(work, 'out')}/`]);
      assertCopy(await tree(join(work, 'out')));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  test('version differences: 10 keeps pg_internal.init and temp relations out of its list; 17 adds pg_wal/summaries', () => {
    const ten = copyExclusions({ major: 10 });
    assert.doesNotMatch(ten, /pg_internal\.init|backup_manifest|summaries/);
    assert.match(copyExclusions({ major: 13 }), /backup_manifest/);
    assert.match(copyExclusions({ major: 17 }), /pg_wal\/summaries\/\*/);
  });

  test('restic and borg patterns are absolute and need the data directory; bad options are INVALID_OPTION', () => {
    assert.match(copyExclusions({ format: 'restic', pgdata: '/var/lib/pg/data/' }), /^\/var\/lib\/pg\/data\/pg_wal\/\[0-9A-F\]\*$/m);
    assert.match(copyExclusions({ format: 'borg', pgdata: '/var/lib/pg/data' }), /^- sh:var\/lib\/pg\/data\/postmaster\.pid$/m);
    assert.throws(() => copyExclusions({ format: 'restic' }), (e) => isBackupError(e, 'INVALID_OPTION') && /--pgdata/.test(e.message));
    assert.throws(() => copyExclusions({ format: 'zip' as never }), (e) => isBackupError(e, 'INVALID_OPTION'));
    assert.throws(() => copyExclusions({ major: 9 }), (e) => isBackupError(e, 'INVALID_OPTION'));
    assert.deepEqual(JSON.parse(copyExclusions({ format: 'json', major: 15 }))[0], { pattern: 'postmaster.pid', why: 'the running server’s lock file' });
  });

  // The real Bacula job that copies a planted tree with this block is in test/examples/bacula.test.ts.
  test('bacula: one Options { Exclude = yes } block with a Wild line per exclusion, absolute, keeping pg_wal/archive_status/ and pg_wal/summaries/', () => {
    const out = copyExclusions({ format: 'bacula', major: 17, pgdata: '/var/lib/postgresql/17/main/' });
    const lines = out.trimEnd().split('\n').filter((l) => !l.startsWith('#'));
    assert.deepEqual([lines[0], lines[1], lines.at(-1)], ['Options {', '  Exclude = yes', '}']);
    const wilds = lines.slice(2, -1).map((l) => /^  Wild = "(.*)"$/.exec(l)?.[1]);
    assert.equal(wilds.length, copyExclusionList(17).length, 'one Wild per exclusion');
    for (const wild of wilds) assert.ok(wild !== undefined && (wild.startsWith('/var/lib/postgresql/17/main/') || wild.startsWith('*/')), String(wild));
    for (const expected of ['postgresql.auto.conf.tmp', 'current_logfiles.tmp', 'backup_manifest', 'pg_wal/[0-9A-F]*', 'pg_wal/archive_status/*', 'pg_wal/summaries/*', 'base/*/t[0-9]*_[0-9]*']) {
      assert.ok(wilds.includes(`/var/lib/postgresql/17/main/${expected}`), expected);
    }
    for (const anywhere of ['*/pgsql_tmp*', '*/pg_internal.init*']) assert.ok(wilds.includes(anywhere), anywhere);
    // `pg_wal/*` would drop archive_status/ (and summaries/ on 17), which the server needs to start.
    assert.ok(!wilds.includes('/var/lib/postgresql/17/main/pg_wal/*'));
    assert.doesNotMatch(copyExclusions({ format: 'bacula', major: 15, pgdata: '/pg' }), /summaries/);
    assert.match(copyExclusions({ format: 'bacula', pgdata: '/srv/a"b' }), /Wild = "\/srv\/a\\"b\/postmaster\.pid"/, 'quotes are escaped');
    assert.throws(() => copyExclusions({ format: 'bacula' }), (e) => isBackupError(e, 'INVALID_OPTION') && /--pgdata/.test(e.message));
    assert.throws(() => copyExclusions({ format: 'bacula', pgdata: 'relative/dir' }), (e) => isBackupError(e, 'INVALID_OPTION'));
  });
});
