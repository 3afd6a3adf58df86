// Encryption through the stores and the WAL archive, without a server: a directory and a real
// S3-protocol server (s3rver). The store conformance suite on encrypted stores, what lands in the
// objects, write-once on plaintext, mixed stores, tampering through archive-get and the CLI (exit
// 126, nothing written), and rotation with rewrap (payload bytes unchanged, compared by hash).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  archiveGet,
  archivePush,
  FilesystemSummaryStore,
  FilesystemWalArchive,
  isSealed,
  Keyring,
  keyIdOf,
  openWalArchive,
  openWritableWalArchive,
  quoteForShell,
  type EncryptedWalArchive,
  type SummarySink,
  type LabelStore,
} from '../../src/index.js';
import { S3SummaryStore } from '../../src/stores/s3.js';
import { runStoreConformance, sampleSummary } from '../../src/testing/index.js';
import { run, type CommandResult } from '../harness/os-user.js';
import { TestS3Server } from '../harness/s3-server.js';
import { PGSB_PROGRAM, s3ArchiveUrl } from '../harness/wal-archive.js';
import { fillDirectory, segmentNames, writeSummaries } from '../lifecycle/fixtures.js';
import { key1, key2, ring1, ring12, ring2, HEADER, rejectsCode } from './fixtures.js';

const FAST_RETRY = { retries: 2, minDelayMs: 20, maxDelayMs: 100 };
const SEGMENT = '000000010000000000000003';
const explain = (r: CommandResult): string => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A WAL-like segment: a page-header-looking start, text we can look for, random and zero pages. */
function segmentBody(size = 1024 * 1024): Buffer {
  const body = Buffer.alloc(size);
  Buffer.from('10d10600', 'hex').copy(body, 0);
  body.write('PGSB-PLAINTEXT-MARKER', 64);
  randomBytes(size / 4).copy(body, size / 2);
  return body;
}

let work: string;
let s3: TestS3Server;
let raw: S3Client;
let prefixes = 0;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgsb-crypto-'));
  s3 = await TestS3Server.start('crypto');
  // In-process archive URLs take their credentials from the AWS chain, as the CLI does.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  raw = new S3Client({ ...s3.storeOptions(), maxAttempts: 1 });
});
after(async () => {
  raw?.destroy();
  await s3?.destroy();
  await rm(work, { recursive: true, force: true });
});

async function s3Objects(prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const page = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
  for (const o of page.Contents ?? []) {
    const got = await raw.send(new GetObjectCommand({ Bucket: s3.bucket, Key: o.Key! }));
    out.set(o.Key!.slice(prefix.length + 1), Buffer.from(await got.Body!.transformToByteArray()));
  }
  return out;
}

async function dirObjects(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    out.set(relative(dir, path), await readFile(path));
  }
  return out;
}

runStoreConformance({
  name: 'FilesystemSummaryStore, encrypted',
  describe,
  test,
  makeFixture: async () => {
    const directory = await mkdtemp(join(tmpdir(), 'pgsb-fs-enc-'));
    return {
      store: new FilesystemSummaryStore({ directory: join(directory, 'summaries'), encryption: { keyring: ring12 } }),
      corrupt: (id, name, body) => writeFile(join(directory, 'summaries', id, name), body),
      cleanup: () => rm(directory, { recursive: true, force: true }),
    };
  },
});

runStoreConformance({
  name: 'S3SummaryStore, encrypted',
  describe,
  test,
  abilities: { exclusiveCreate: false },
  makeFixture: async () => {
    const options = { ...s3.storeOptions(`conformance/${++prefixes}`), retry: FAST_RETRY };
    return {
      store: new S3SummaryStore({ ...options, encryption: { keyring: ring12 } }),
      corrupt: async (id, name, body) => {
        await raw.send(new PutObjectCommand({ Bucket: options.bucket, Key: `${options.prefix}/${id}/${name}`, Body: body }));
      },
      cleanup: async () => undefined,
    };
  },
});

type AnyStore = SummarySink & LabelStore & { rewrapKeys: FilesystemSummaryStore['rewrapKeys'] };
const storeKinds: { kind: string; make: (keyring?: Keyring, requireEncrypted?: boolean) => { store: (k?: Keyring, r?: boolean) => AnyStore; objects: () => Promise<Map<string, Buffer>>; tamper: (name: string) => Promise<void> } }[] = [
  {
    kind: 'directory',
    make: () => {
      const directory = join(work, `fs-store-${++prefixes}`);
      return {
        store: (keyring, requireEncrypted) => new FilesystemSummaryStore({ directory, ...(keyring ? { encryption: { keyring, ...(requireEncrypted ? { requireEncrypted } : {}) } } : {}) }),
        objects: () => dirObjects(directory),
        tamper: async (name) => {
          const body = await readFile(join(directory, name));
          body[body.length - 5] = body[body.length - 5]! ^ 0x10;
          await writeFile(join(directory, name), body);
        },
      };
    },
  },
  {
    kind: 'S3',
    make: () => {
      const prefix = `stores/${++prefixes}`;
      return {
        store: (keyring, requireEncrypted) =>
          new S3SummaryStore({ ...s3.storeOptions(prefix), retry: FAST_RETRY, ...(keyring ? { encryption: { keyring, ...(requireEncrypted ? { requireEncrypted } : {}) } } : {}) }),
        objects: () => s3Objects(prefix),
        tamper: async (name) => {
          const body = (await s3Objects(prefix)).get(name)!;
          body[body.length - 5] = body[body.length - 5]! ^ 0x10;
          await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefix}/${name}`, Body: body }));
        },
      };
    },
  },
];

for (const { kind, make } of storeKinds) {
  describe(`encrypted summaries in a ${kind} store`, () => {
    test('every stored file is sealed and holds no summary text; the same summary again is "already there"', async () => {
      const fixture = make();
      const summary = sampleSummary('enc-a', { tablespaceMap: '16385 /srv/tablespace-secret\n' });
      assert.equal((await fixture.store(ring1).write(summary)).written, true);
      const objects = await fixture.objects();
      assert.deepEqual([...objects.keys()].sort(), ['enc-a/backup_label', 'enc-a/summary.json', 'enc-a/tablespace_map']);
      for (const [name, body] of objects) {
        assert.ok(isSealed(body), name);
        for (const text of ['START WAL LOCATION', 'CHECKPOINT', 'tablespace-secret', '7441234567890123456', 'systemIdentifier', '000000010000000000000009']) {
          assert.equal(body.indexOf(text), -1, `${name} holds ${text}`);
        }
      }
      // Write-once compares plaintext: another sealing of the same summary is the same summary.
      assert.equal((await fixture.store(ring1).write(summary)).written, false);
      await rejectsCode(fixture.store(ring1).write({ ...summary, stopLsn: '0/9000200' }), 'ALREADY_EXISTS');
      assert.deepEqual(await fixture.store(ring1).get('enc-a'), summary);
      assert.deepEqual(await fixture.store().list(), ['enc-a'], 'listing needs no key');
      await rejectsCode(fixture.store().get('enc-a'), 'ENCRYPTION_KEY_MISSING');
      await rejectsCode(fixture.store(ring2).get('enc-a'), 'ENCRYPTION_KEY_MISSING');
      await fixture.tamper('enc-a/backup_label');
      await rejectsCode(fixture.store(ring1).get('enc-a'), 'DECRYPTION_FAILED');
    });

    test('encryption turned on later: old plaintext summaries stay readable, unless encryption is required', async () => {
      const fixture = make();
      const old = sampleSummary('enc-old');
      await fixture.store().write(old);
      await fixture.store(ring1).write(sampleSummary('enc-new'));
      assert.deepEqual(await fixture.store(ring1).get('enc-old'), old);
      assert.equal((await fixture.store(ring1).get('enc-new')).id, 'enc-new');
      await rejectsCode(fixture.store(ring1, true).get('enc-old'), 'NOT_ENCRYPTED');
      assert.equal((await fixture.store(ring1, true).get('enc-new')).id, 'enc-new');
      // The plaintext summary under an encrypting store is still "the same": no second copy, no conflict.
      assert.equal((await fixture.store(ring1).write(old)).written, false);
    });

    test('rotation: key 2 added, both needed; rewrap; key 1 removed; payloads unchanged', async () => {
      const fixture = make();
      const a = sampleSummary('rot-a');
      const b = sampleSummary('rot-b');
      await fixture.store(ring1).write(a);
      await fixture.store(ring12).write(b);
      await rejectsCode(fixture.store(ring2).get('rot-a'), 'ENCRYPTION_KEY_MISSING');
      assert.deepEqual(await fixture.store(ring12).get('rot-a'), a);
      const before = await fixture.objects();
      const dry = await fixture.store(ring12).rewrapKeys({ keyring: ring12, dryRun: true });
      assert.deepEqual(dry.rewrapped, ['rot-a/backup_label', 'rot-a/summary.json']);
      assert.deepEqual(await fixture.objects(), before, 'a dry run writes nothing');
      const report = await fixture.store(ring12).rewrapKeys({ keyring: ring12 });
      assert.deepEqual(report.rewrapped, ['rot-a/backup_label', 'rot-a/summary.json']);
      assert.equal(report.keyId, keyIdOf(key2));
      assert.deepEqual(report.failed, []);
      const after = await fixture.objects();
      for (const [name, body] of before) {
        assert.equal(sha(after.get(name)!.subarray(HEADER)), sha(body.subarray(HEADER)), `${name}: payload unchanged`);
        if (name.startsWith('rot-a/')) assert.ok(!after.get(name)!.subarray(0, HEADER).equals(body.subarray(0, HEADER)), `${name}: new header`);
        else assert.ok(after.get(name)!.equals(body), `${name}: untouched`);
      }
      assert.deepEqual(await fixture.store(ring2).get('rot-a'), a, 'key 1 retired');
      assert.deepEqual(await fixture.store(ring2).get('rot-b'), b);
      assert.deepEqual((await fixture.store(ring2).rewrapKeys({ keyring: ring2 })).rewrapped, [], 'nothing left to re-wrap');
    });
  });
}

const archiveKinds: { kind: string; url: () => string; objects: (url: string) => Promise<Map<string, Buffer>>; put: (url: string, name: string, body: Buffer) => Promise<void> }[] = [
  {
    kind: 'directory',
    url: () => join(work, `wal-${++prefixes}`),
    objects: (url) => dirObjects(url),
    put: (url, name, body) => writeFile(join(url, name), body),
  },
  {
    kind: 'S3',
    url: () => s3ArchiveUrl(s3, `wal/${++prefixes}`),
    objects: (url) => s3Objects(new URL(url).pathname.slice(1)),
    put: async (url, name, body) => void (await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${new URL(url).pathname.slice(1)}/${name}`, Body: body }))),
  },
];

for (const { kind, url: makeUrl, objects, put } of archiveKinds) {
  describe(`encrypted WAL in a ${kind} archive`, () => {
    let pgdata: string;
    before(async () => {
      pgdata = await mkdtemp(join(work, 'pgdata-'));
      await mkdir(join(pgdata, 'pg_wal'));
    });
    const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
    const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CommandResult> =>
      run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: pgdata, env: { ...process.env, ...env, ...extraEnv } });
    const newUrl = async (): Promise<string> => {
      const url = makeUrl();
      if (!url.startsWith('s3://')) await mkdir(url);
      return url;
    };

    test('archive-push seals after compressing; a re-push is "already stored"; other content is a conflict; archive-get gives plaintext', async () => {
      const url = await newUrl();
      const body = segmentBody();
      await writeFile(join(pgdata, 'pg_wal', SEGMENT), body);
      const encryption = { keyring: ring1 };
      for (const compress of ['none', 'gzip'] as const) {
        const walFile = compress === 'none' ? SEGMENT : '000000010000000000000004';
        if (compress === 'gzip') await writeFile(join(pgdata, 'pg_wal', walFile), body);
        const first = await archivePush(join(pgdata, 'pg_wal', walFile), { archive: url, compress, encryption });
        assert.equal(first.written, true);
        const again = await archivePush(join(pgdata, 'pg_wal', walFile), { archive: url, compress, encryption });
        assert.equal(again.written, false, 'the same segment re-pushed after a crash is already stored');
        const got = await archiveGet(walFile, join(pgdata, 'pg_wal', 'RECOVERYXLOG'), { archive: url, encryption });
        assert.equal(got.storedAs, first.storedAs);
        assert.ok((await readFile(join(pgdata, 'pg_wal', 'RECOVERYXLOG'))).equals(body));
      }
      const stored = await objects(url);
      assert.deepEqual([...stored.keys()].sort(), [SEGMENT, '000000010000000000000004.gz']);
      for (const [name, object] of stored) {
        assert.ok(isSealed(object), name);
        assert.equal(object.indexOf('PGSB-PLAINTEXT-MARKER'), -1, `${name} holds plaintext`);
        assert.equal(object.indexOf(Buffer.from('10d10600', 'hex')), -1, `${name} holds a WAL page header`);
      }
      assert.ok(stored.get('000000010000000000000004.gz')!.length < body.length, 'compressed before it was sealed');
      const other = Buffer.from(body);
      other[100] = other[100]! ^ 1;
      await writeFile(join(pgdata, 'pg_wal', SEGMENT), other);
      await rejectsCode(archivePush(join(pgdata, 'pg_wal', SEGMENT), { archive: url, encryption }), 'WAL_CONFLICT');
    });

    test('a tampered, foreign or keyless object: archive-get refuses (exit 126 from the CLI) and writes nothing', async () => {
      const url = await newUrl();
      const body = segmentBody();
      await writeFile(join(pgdata, 'pg_wal', SEGMENT), body);
      await archivePush(join(pgdata, 'pg_wal', SEGMENT), { archive: url, encryption: { keyring: ring1 } });
      const keyFile = join(work, `key-${prefixes}`);
      await writeFile(join(work, `key-${prefixes}`), `${key1.toString('base64')}\n`, { mode: 0o600 });
      const dest = 'pg_wal/RECOVERYXLOG';
      await rm(join(pgdata, dest), { force: true });
      // No key given: the sealed file is never handed on as WAL.
      let r = await cli(['archive-get', SEGMENT, dest, '--archive', url, '--prefetch', '0']);
      assert.equal(r.code, 126, explain(r));
      assert.match(r.stderr, /ENCRYPTION_KEY_MISSING/);
      assert.equal(existsSync(join(pgdata, dest)), false);
      // An archive opened by hand (not through openWalArchive) hands over sealed bytes: refused too.
      if (!url.startsWith('s3://')) await rejectsCode(archiveGet(SEGMENT, join(pgdata, dest), { archive: new FilesystemWalArchive({ directory: url }) as never }), 'ENCRYPTION_KEY_MISSING');
      assert.equal(existsSync(join(pgdata, dest)), false);
      r = await cli(['archive-get', SEGMENT, dest, '--archive', url, '--prefetch', '0', '--encryption-key-file', keyFile]);
      assert.equal(r.code, 0, explain(r));
      assert.ok((await readFile(join(pgdata, dest))).equals(body));
      await rm(join(pgdata, dest));
      // One bit changed in the middle of the payload.
      const stored = (await objects(url)).get(SEGMENT)!;
      stored[stored.length >> 1] = stored[stored.length >> 1]! ^ 4;
      await put(url, SEGMENT, stored);
      r = await cli(['archive-get', SEGMENT, dest, '--archive', url, '--prefetch', '0', '--encryption-key-file', keyFile]);
      assert.equal(r.code, 126, explain(r));
      assert.match(r.stderr, /DECRYPTION_FAILED/);
      assert.match(r.stderr, new RegExp(SEGMENT));
      assert.equal(existsSync(join(pgdata, dest)), false);
      assert.deepEqual((await readdir(join(pgdata, 'pg_wal'))).filter((n) => n.includes('RECOVERYXLOG')), [], 'no temp file left either');
      // Another segment's (valid) object under this name.
      await writeFile(join(pgdata, 'pg_wal', '000000010000000000000005'), segmentBody());
      await archivePush(join(pgdata, 'pg_wal', '000000010000000000000005'), { archive: url, encryption: { keyring: ring1 } });
      await put(url, SEGMENT, (await objects(url)).get('000000010000000000000005')!);
      r = await cli(['archive-get', SEGMENT, dest, '--archive', url, '--prefetch', '0', '--encryption-key-file', keyFile, '--json']);
      assert.equal(r.code, 126, explain(r));
      assert.equal(JSON.parse(r.stdout).error.code, 'DECRYPTION_FAILED');
      assert.equal(existsSync(join(pgdata, dest)), false);
      // A missing file is still exit 1 ("no such file") for PostgreSQL.
      r = await cli(['archive-get', '000000010000000000000009', dest, '--archive', url, '--prefetch', '0', '--encryption-key-file', keyFile]);
      assert.equal(r.code, 1, explain(r));
      assert.doesNotMatch(r.stdout + r.stderr, new RegExp(key1.toString('base64').slice(0, 20).replace(/[+/]/g, '.')));
    });

    test('the CLI: a 0644 key file is refused and nothing is stored; PGSB_ENCRYPTION_KEY serves archive_command; --require-encryption refuses plaintext', async () => {
      const url = await newUrl();
      await writeFile(join(pgdata, 'pg_wal', SEGMENT), segmentBody());
      const loose = join(work, `loose-${prefixes}`);
      await writeFile(loose, `${key1.toString('base64')}\n`);
      await chmod(loose, 0o644);
      let r = await cli(['archive-push', `pg_wal/${SEGMENT}`, '--archive', url, '--encryption-key-file', loose]);
      assert.equal(r.code, 2, explain(r));
      assert.match(r.stderr, /KEY_FILE_INSECURE/);
      assert.equal((await objects(url)).size, 0);
      r = await cli(['archive-push', `pg_wal/${SEGMENT}`, '--archive', url], { PGSB_ENCRYPTION_KEY: key2.toString('base64') });
      assert.equal(r.code, 0, explain(r));
      assert.ok(isSealed((await objects(url)).get(SEGMENT)!));
      // A plaintext history file pushed before encryption was turned on.
      await put(url, '00000002.history', Buffer.from('1\t0/5000000\tno recovery target specified\n'));
      r = await cli(['archive-get', '00000002.history', 'pg_wal/RECOVERYHISTORY', '--archive', url, '--prefetch', '0'], { PGSB_ENCRYPTION_KEY: key2.toString('base64') });
      assert.equal(r.code, 0, explain(r));
      r = await cli(['archive-get', '00000002.history', 'pg_wal/RECOVERYHISTORY2', '--archive', url, '--prefetch', '0', '--require-encryption'], { PGSB_ENCRYPTION_KEY: key2.toString('base64') });
      assert.equal(r.code, 126, explain(r));
      assert.match(r.stderr, /NOT_ENCRYPTED/);
      assert.equal(existsSync(join(pgdata, 'pg_wal', 'RECOVERYHISTORY2')), false);
    });

    test('rotation through the CLI: keys generate, push with key 1, add key 2, push, both needed; rewrap; key 1 removed; payloads unchanged', async () => {
      const url = await newUrl();
      const keyFile = join(work, `rotate-${prefixes}`);
      let r = await cli(['keys', 'generate', '--output', keyFile, '--json']);
      assert.equal(r.code, 0, explain(r));
      const firstId = JSON.parse(r.stdout).keyId as string;
      assert.equal((await import('node:fs')).statSync(keyFile).mode & 0o777, 0o600);
      const firstKey = await readFile(keyFile, 'utf8');
      const segments = ['000000010000000000000010', '000000010000000000000011'];
      const bodies = new Map<string, Buffer>();
      const push = async (name: string): Promise<void> => {
        bodies.set(name, segmentBody(256 * 1024));
        await writeFile(join(pgdata, 'pg_wal', name), bodies.get(name)!);
        const p = await cli(['archive-push', `pg_wal/${name}`, '--archive', url, '--encryption-key-file', keyFile]);
        assert.equal(p.code, 0, explain(p));
      };
      await push(segments[0]!);
      r = await cli(['keys', 'generate', '--output', keyFile, '--append', '--json']);
      const secondId = JSON.parse(r.stdout).keyId as string;
      r = await cli(['keys', 'list', '--encryption-key-file', keyFile, '--json']);
      assert.deepEqual(JSON.parse(r.stdout).keyIds, [firstId, secondId]);
      await push(segments[1]!);
      const before = await objects(url);
      assert.equal(before.get(segments[0]!)!.toString('latin1', 11, 27), firstId);
      assert.equal(before.get(segments[1]!)!.toString('latin1', 11, 27), secondId);
      // Only the new key: the old segment cannot be read, the new one can.
      const onlyNew = join(work, `only-new-${prefixes}`);
      await writeFile(onlyNew, (await readFile(keyFile, 'utf8')).replace(firstKey, ''), { mode: 0o600 });
      const get = (name: string, file: string): Promise<CommandResult> => cli(['archive-get', name, `pg_wal/GOT-${name}`, '--archive', url, '--prefetch', '0', '--encryption-key-file', file]);
      assert.equal((await get(segments[0]!, onlyNew)).code, 126);
      assert.equal((await get(segments[1]!, onlyNew)).code, 0);
      r = await cli(['keys', 'rewrap', '--wal-archive', url, '--encryption-key-file', keyFile, '--json']);
      assert.equal(r.code, 0, explain(r));
      assert.deepEqual(JSON.parse(r.stdout).reports[0].rewrapped, [segments[0]]);
      const after = await objects(url);
      for (const name of segments) assert.equal(sha(after.get(name)!.subarray(HEADER)), sha(before.get(name)!.subarray(HEADER)), `${name}: payload unchanged`);
      assert.ok(after.get(segments[1]!)!.equals(before.get(segments[1]!)!), 'an object under the newest key is not touched');
      for (const name of segments) {
        await rm(join(pgdata, 'pg_wal', `GOT-${name}`), { force: true });
        const g = await get(name, onlyNew);
        assert.equal(g.code, 0, explain(g));
        assert.ok((await readFile(join(pgdata, 'pg_wal', `GOT-${name}`))).equals(bodies.get(name)!));
      }
    });

    test('openWalArchive wraps every archive: listing and deleting need no key, reads refuse sealed files without one', async () => {
      const url = await newUrl();
      await writeFile(join(pgdata, 'pg_wal', SEGMENT), segmentBody());
      await archivePush(join(pgdata, 'pg_wal', SEGMENT), { archive: await openWritableWalArchive(url, { encryption: { keyring: ring1 } }) });
      const keyless: EncryptedWalArchive = await openWalArchive(url);
      assert.deepEqual(await keyless.listFileNames(), [SEGMENT]);
      assert.equal((await keyless.listFiles!()).length, 1);
      await rejectsCode(keyless.readFile(SEGMENT), 'ENCRYPTION_KEY_MISSING');
      assert.equal(keyless.encrypts, false);
      await keyless.deleteFile!(SEGMENT);
      assert.deepEqual(await keyless.listFileNames(), []);
    });
  });
}

describe('info and expire over an encrypted store', () => {
  test('summaries open with the key; one under a key not given is UNREADABLE (never skipped), and expire then deletes no WAL', async () => {
    const root = await mkdtemp(join(work, 'lifecycle-'));
    const storeDir = join(root, 'summaries');
    const walDir = join(root, 'wal');
    await mkdir(walDir);
    const summaries = await writeSummaries(new FilesystemSummaryStore({ directory: storeDir, encryption: { keyring: ring1 } }), 3);
    await new FilesystemSummaryStore({ directory: storeDir, encryption: { keyring: ring2 } }).write(sampleSummary('other-key'));
    await fillDirectory(walDir, segmentNames(1, 2, 23));
    const keyFile = join(root, 'k1');
    await writeFile(keyFile, `${key1.toString('base64')}\n`, { mode: 0o600 });
    const cli = (args: string[]): Promise<CommandResult> => run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: root });
    let r = await cli(['info', '--store', storeDir, '--wal-archive', walDir, '--encryption-key-file', keyFile, '--json']);
    assert.equal(r.code, 0, explain(r));
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.unreadable.map((u: { id: string; reason: string }) => [u.id, u.reason.split(':')[0]]), [['other-key', 'ENCRYPTION_KEY_MISSING']]);
    for (const s of summaries) assert.ok(r.stdout.includes(s.id), s.id);
    r = await cli(['info', '--store', storeDir, '--encryption-key-file', keyFile]);
    assert.match(r.stdout, /UNREADABLE summary other-key: ENCRYPTION_KEY_MISSING/);
    r = await cli(['info', '--store', storeDir, '--json']);
    assert.equal(JSON.parse(r.stdout).unreadable.length, 4, 'without a key every sealed summary is unreadable');
    const before = (await readdir(walDir)).sort();
    r = await cli(['expire', '--store', storeDir, '--wal-archive', walDir, '--keep-last', '1', '--encryption-key-file', keyFile]);
    assert.equal(r.code, 6, explain(r));
    assert.deepEqual((await readdir(walDir)).sort(), before, 'no WAL deleted while a summary cannot be read');
  });
});
