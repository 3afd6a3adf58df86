// Encryption end to end on real servers: archive_command is `archive-push --encryption-key-file`
// (sync or --async), the split backup under pgbench saves its summary to an encrypted store, and
// the backup is restored (restore_command: archive-get with the key file, prefetching from S3) and
// drilled. The invariant must hold, and neither the archive nor the store may hold a WAL page
// header (the cluster's system identifier) or summary text in the clear. PostgreSQL 15 and 18: the
// envelope does not depend on the major; these two also cover the async pusher and the prefetcher.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { archivePushCommand, drill, EncryptedWalArchive, FilesystemSummaryStore, isSealed, Keyring, openWalArchive, prepareRestore, quoteForShell, verifyWal, writeNewKey, type LabelStore, type SummarySink } from '../../src/index.js';
import { run } from '../harness/os-user.js';
import { HEADER } from './fixtures.js';
import { contentSnapshot } from '../bad-input/cases.js';
import { S3SummaryStore, S3WalArchive } from '../../src/stores/s3.js';
import { chownToServerUser, TestCluster, takeSplitBackup, testMajors, untarDataDirectory } from '../harness/index.js';
import { TestS3Server } from '../harness/s3-server.js';
import { confString, pgsbProgramFor, s3ArchiveUrl } from '../harness/wal-archive.js';

interface Case {
  readonly major: number;
  readonly target: 'directory' | 's3';
  readonly compress: 'none' | 'gzip';
  readonly async: boolean;
}

const CASES: readonly Case[] = [
  { major: 15, target: 'directory', compress: 'gzip', async: true },
  { major: 18, target: 's3', compress: 'none', async: false },
];

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(200);
  }
}

async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.set(relative(dir, join(entry.parentPath ?? entry.path, entry.name)), await readFile(join(entry.parentPath ?? entry.path, entry.name)));
  }
  return out;
}

async function objectsUnder(s3: TestS3Server, prefix: string): Promise<Map<string, Buffer>> {
  const client = new S3Client({ ...s3.storeOptions(), maxAttempts: 1 });
  try {
    const out = new Map<string, Buffer>();
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: o.Key! }));
        out.set(o.Key!.slice(prefix.length + 1), Buffer.from(await got.Body!.transformToByteArray()));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  } finally {
    client.destroy();
  }
}

/** Every object sealed, none holding the cluster's system identifier (in every WAL page header) or summary text. */
function assertNothingInTheClear(objects: Map<string, Buffer>, systemIdentifier: string, what: string): void {
  assert.ok(objects.size > 0, `${what} is empty`);
  const sysid = Buffer.alloc(8);
  sysid.writeBigUInt64LE(BigInt(systemIdentifier));
  for (const [name, body] of objects) {
    assert.ok(isSealed(body), `${what}: ${name} is not encrypted`);
    assert.equal(body.indexOf(sysid), -1, `${what}: ${name} holds the system identifier (a WAL page header)`);
    for (const text of ['START WAL LOCATION', 'CHECKPOINT LOCATION', systemIdentifier, 'pgbench']) assert.equal(body.indexOf(text), -1, `${what}: ${name} holds "${text}"`);
  }
}

describe('encrypted WAL archive and summaries on real servers: backup under pgbench, restore and drill through archive-get', () => {
  for (const c of CASES.filter((each) => testMajors().includes(each.major))) {
    test(`PostgreSQL ${c.major} → ${c.target}${c.compress === 'gzip' ? ' (gzip)' : ''}, archive-push${c.async ? ' --async' : ''}: the invariant holds, nothing is in the clear`, async () => {
      const work = await mkdtemp(join(tmpdir(), `pgsb-crypto-e2e${c.major}-`));
      await chmod(work, 0o755);
      const s3 = c.target === 's3' ? await TestS3Server.start('wal') : undefined;
      if (s3) Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
      let source: TestCluster | undefined;
      let restored: TestCluster | undefined;
      try {
        const key = randomBytes(32);
        const keyring = Keyring.fromKeys([key]);
        // The server's OS user reads the key file: archive_command and restore_command run as it.
        const keys = join(work, 'keys');
        await mkdir(keys, { mode: 0o700 });
        const keyFile = join(keys, 'wal.key');
        await writeFile(keyFile, `${key.toString('base64')}\n`, { mode: 0o600 });
        await chownToServerUser(keys);
        const walDir = join(work, 'wal');
        await mkdir(walDir);
        await chownToServerUser(walDir);
        const url = s3 ? s3ArchiveUrl(s3, `pg${c.major}/wal`) : `file://${walDir}`;
        const program = pgsbProgramFor(s3);
        const archiveCommand = archivePushCommand(url, { program, compress: c.compress, async: c.async, encryptionKeyFiles: [keyFile] });
        assert.match(archiveCommand, /--encryption-key-file/);
        assert.ok(!archiveCommand.includes(key.toString('base64')), 'the key is never on a command line');
        source = await TestCluster.start({ major: c.major, name: `crypto-e2e${c.major}`, settings: { archive_command: confString(archiveCommand), archive_timeout: '0' } });
        const init = await source.client('pgbench', ['-i', '-q', '-s', '1', 'postgres']);
        assert.equal(init.code, 0, init.stderr);

        const encryption = { keyring };
        const store: SummarySink & LabelStore = s3
          ? new S3SummaryStore({ ...s3.storeOptions(`pg${c.major}/summaries`), encryption })
          : new FilesystemSummaryStore({ directory: join(work, 'summaries'), encryption });
        const tarball = join(work, 'data.tar');
        const load = source.client('pgbench', ['-n', '-c', '2', '-T', '3', 'postgres']);
        const id = `crypto-e2e-${c.major}`;
        const summary = await takeSplitBackup(source, { id, sinks: [store], tarball, spoolDirectory: join(work, 'spool'), during: () => delay(1000) });
        assert.equal((await load).code, 0);

        const inner = s3 ? new S3WalArchive(s3.storeOptions(`pg${c.major}/wal`)) : (await openWalArchive(url)).inner;
        const archive = new EncryptedWalArchive(inner, encryption);
        assert.deepEqual((await verifyWal(summary, archive)).missing, []);
        const walObjects = s3 ? await objectsUnder(s3, `pg${c.major}/wal`) : await filesUnder(walDir);
        const segments = [...walObjects.keys()].filter((n) => /^[0-9A-F]{24}(\.gz)?$/.test(n));
        assert.ok(segments.length >= 2, [...walObjects.keys()].join(' '));
        if (c.compress === 'gzip') assert.ok(segments.every((n) => n.endsWith('.gz')));
        assertNothingInTheClear(new Map([...walObjects].filter(([n]) => !n.startsWith('.'))), summary.systemIdentifier, 'the WAL archive');
        assertNothingInTheClear(s3 ? await objectsUnder(s3, `pg${c.major}/summaries`) : await filesUnder(join(work, 'summaries')), summary.systemIdentifier, 'the summary store');

        // restore: the archive is read with the key (the first segment is opened before anything
        // is written), and restore_command is archive-get with the key file's path.
        const pgdata = await untarDataDirectory(tarball, await mkdtemp(join(work, 'restore-')));
        const report = await prepareRestore({ id, store, pgdata, walArchive: url, archiveProgram: program, archive, encryptionKeyFiles: [keyFile] });
        assert.equal(report.walCheck?.complete, true);
        const autoConf = await readFile(join(pgdata, 'postgresql.auto.conf'), 'utf8');
        assert.match(autoConf, new RegExp(`restore_command = .*archive-get %f %p .*--encryption-key-file ${keyFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
        assert.ok(!autoConf.includes(key.toString('base64')));
        restored = await TestCluster.start({ major: c.major, existingDataDir: pgdata, name: `crypto-e2e-restored${c.major}`, archive: false, settings: { archive_mode: 'off' } });
        await waitUntil('recovery ends', async () => !(await restored!.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r);
        await restored.waitForLog(/consistent recovery state reached/);
        assert.doesNotMatch(await restored.log(), /restore_command.*(terminated by signal|exit code (?:[2-9]|\d{2,}))|FATAL/);
        const [row] = await restored.query<{ accounts: string; history: string }>(
          'SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS accounts, (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::text AS history',
        );
        assert.equal(row!.accounts, row!.history, 'pgbench invariant on the restored copy');
        await restored.destroy();
        restored = undefined;

        // drill: the same through its private server, from another copy of the data.
        const copy = await untarDataDirectory(tarball, await mkdtemp(join(work, 'drill-')));
        const drilled = await drill({
          id,
          store,
          dataCopy: copy,
          walArchive: url,
          archiveProgram: program,
          encryptionKeyFiles: [keyFile],
          binDir: source.binDir,
          checkSql: ['SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)'],
        });
        assert.equal(drilled.ok, true, drilled.log.slice(-2000));
        assert.ok(drilled.walFilesReplayed >= 1);
        if (!s3) {
          // Rotation on the live server: key 2 appended to the key file archive_command reads; new
          // segments use it. A restore then needs both keys; after rewrap the file holds key 2
          // alone and a drill still restores, every old payload byte unchanged.
          const secondId = await writeNewKey(keyFile, { append: true });
          await source.query('CREATE TABLE after_rotation AS SELECT generate_series(1, 1000) AS i');
          const [switched] = await source.query<{ f: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS f');
          await waitUntil(`${switched!.f} archived`, async () => (await readdir(walDir)).some((n) => n.startsWith(switched!.f)));
          const before = new Map([...(await filesUnder(walDir))].filter(([n]) => !n.startsWith('.')));
          const keyIds = new Set([...before.values()].map((b) => b.toString('latin1', 11, 27)));
          assert.deepEqual([...keyIds].sort(), [keyring.newestId, secondId].sort(), 'the archive holds objects under both keys');
          const both = await Keyring.fromFiles([keyFile]);
          const rotated = await untarDataDirectory(tarball, await mkdtemp(join(work, 'rotated-')));
          await prepareRestore({ id, store, pgdata: rotated, walArchive: url, archiveProgram: program, archive: new EncryptedWalArchive(inner, { keyring: both }), encryptionKeyFiles: [keyFile] });
          restored = await TestCluster.start({ major: c.major, existingDataDir: rotated, name: `crypto-e2e-rotated${c.major}`, archive: false, settings: { archive_mode: 'off' } });
          await waitUntil('recovery ends', async () => !(await restored!.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r);
          assert.deepEqual(await restored.query('SELECT count(*)::int AS n FROM after_rotation'), [{ n: 1000 }], 'WAL under key 2 replayed too');
          await restored.destroy();
          restored = undefined;
          const rewrap = await run('sh', ['-c', `${program} keys rewrap --wal-archive ${quoteForShell(walDir)} --store ${quoteForShell(join(work, 'summaries'))} --encryption-key-file ${quoteForShell(keyFile)} --json`]);
          assert.equal(rewrap.code, 0, rewrap.stdout + rewrap.stderr);
          const onlySecond = join(keys, 'second-only.key');
          await writeFile(onlySecond, (await readFile(keyFile, 'utf8')).trim().split('\n').at(-1)! + '\n', { mode: 0o600 });
          await chownToServerUser(onlySecond);
          assert.deepEqual((await Keyring.fromFiles([onlySecond])).ids, [secondId]);
          const after = await filesUnder(walDir);
          for (const [name, body] of before) assert.equal(sha256(after.get(name)!.subarray(HEADER)), sha256(body.subarray(HEADER)), `${name}: payload unchanged`);
          if (process.getuid?.() === 0) {
            const { statSync } = await import('node:fs');
            for (const name of before.keys()) assert.equal(statSync(join(walDir, name)).uid, statSync(walDir).uid, `${name}: still the server user's`);
          }
          const retired = await drill({
            id,
            store: new FilesystemSummaryStore({ directory: join(work, 'summaries'), encryption: { keyring: await Keyring.fromFiles([onlySecond]) } }),
            dataCopy: await untarDataDirectory(tarball, await mkdtemp(join(work, 'retired-'))),
            walArchive: url,
            archiveProgram: program,
            encryptionKeyFiles: [onlySecond],
            binDir: source.binDir,
            checkSql: ['SELECT count(*) = 1000 FROM after_rotation'],
          });
          assert.equal(retired.ok, true, retired.log.slice(-2000));
        }

        // Without the key, restore refuses before it changes anything, byte for byte: a keyless
        // store (the summary cannot be read), and a keyed store with a keyless archive (the start
        // segment cannot be opened: refused before cp could be chosen or anything written).
        const keyless = await untarDataDirectory(tarball, await mkdtemp(join(work, 'keyless-')));
        const untouched = await contentSnapshot(keyless);
        const keylessStore = s3 ? new S3SummaryStore(s3.storeOptions(`pg${c.major}/summaries`)) : new FilesystemSummaryStore({ directory: join(work, 'summaries') });
        for (const attempt of [{ store: keylessStore }, { store, archive: new EncryptedWalArchive(inner) }]) {
          await assert.rejects(
            prepareRestore({ id, pgdata: keyless, walArchive: url, ...attempt }),
            (error: Error & { code?: string }) => error.code === 'ENCRYPTION_KEY_MISSING',
          );
          assert.deepEqual(await contentSnapshot(keyless), untouched, 'a refusal changes nothing');
        }
      } finally {
        await restored?.destroy();
        await source?.destroy();
        await s3?.destroy();
        await rm(work, { recursive: true, force: true });
      }
    });
  }
});
