// What the S3 store reads back is checked before anyone uses it: the MD5 ETag of a single-part
// object, Content-Length where there is no such ETag, and a sealed object's own tags instead of
// MD5. Against a real S3-protocol server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { archiveGet, archivePush, EncryptedWalArchive, isBackupError, isSealed, Keyring } from '../../src/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import { TestS3Server } from '../harness/s3-server.js';

const SEGMENT = '000000010000000000000003';
const SEGMENT_SIZE = 1024 * 1024; // a small stand-in: the code never assumes 16 MiB

let work: string;
let s3: TestS3Server;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgsb-s3-reads-'));
  s3 = await TestS3Server.start('wal');
});
after(async () => {
  await s3?.destroy();
  await rm(work, { recursive: true, force: true });
});

/** A segment-sized file named SEGMENT in its own directory (archivePush takes the name from the path). */
async function walFile(dir: string): Promise<{ path: string; body: Buffer }> {
  await mkdir(join(work, dir));
  const body = Buffer.concat([randomBytes(SEGMENT_SIZE / 2), Buffer.alloc(SEGMENT_SIZE / 2)]);
  const path = join(work, dir, SEGMENT);
  await writeFile(path, body);
  return { path, body };
}

describe('what S3 sends back is checked before anything is written', () => {
  const stored = (prefix: string, name: string): string => join(s3.directory, s3.bucket, prefix, `${name}._S3rver_object`);

  test('an object whose bytes no longer match its MD5 ETag (rot in the store) is ARCHIVE_FAILED, with no file at the destination', async () => {
    const archive = new S3WalArchive(s3.storeOptions('rot'));
    const { path } = await walFile('rot');
    await archivePush(path, { archive });
    const object = stored('rot', SEGMENT);
    const bytes = await readFile(object);
    bytes.writeUInt8(bytes.readUInt8(10) ^ 0xff, 10); // same length, so only the hash can tell
    await writeFile(object, bytes);
    const dest = join(work, 'rot-dest');
    await assert.rejects(archiveGet(SEGMENT, dest, { archive }), (e: unknown) => isBackupError(e, 'ARCHIVE_FAILED') && /does not match its ETag/.test((e as Error).message));
    await assert.rejects(stat(dest), { code: 'ENOENT' });
  });

  test('a body shorter than its Content-Length, with no MD5 ETag to catch it (a multipart or KMS object), is ARCHIVE_FAILED, never a short file', async () => {
    const options = s3.storeOptions('short');
    const { path, body } = await walFile('short');
    await archivePush(path, { archive: new S3WalArchive(options) });
    // A wrapper around a real client (S3ClientLike allows one): the ETag dropped, the body's last chunk lost.
    const real = new S3Client({ endpoint: options.endpoint, region: options.region, forcePathStyle: true, credentials: options.credentials });
    const client = {
      async send(command: object, sendOptions?: object): Promise<unknown> {
        const output = (await real.send(command as never, sendOptions)) as { Body?: AsyncIterable<Buffer>; ETag?: string };
        if (output.Body === undefined) return output;
        const chunks: Buffer[] = [];
        for await (const chunk of output.Body) chunks.push(chunk);
        async function* allButLast(): AsyncGenerator<Buffer> {
          yield* chunks.slice(0, -1);
        }
        return { ...output, ETag: undefined, Body: allButLast() };
      },
    };
    const dest = join(work, 'short-dest');
    await assert.rejects(archiveGet(SEGMENT, dest, { archive: new S3WalArchive({ ...options, client }) }), (e: unknown) => isBackupError(e, 'ARCHIVE_FAILED') && /Content-Length/.test((e as Error).message));
    await assert.rejects(stat(dest), { code: 'ENOENT' });
    // The same wrapper passing the whole body gets the segment, byte for byte: the check is not a refusal of everything.
    const whole = {
      async send(command: object, sendOptions?: object): Promise<unknown> {
        const output = (await real.send(command as never, sendOptions)) as { ETag?: string };
        return { ...output, ETag: undefined };
      },
    };
    await archiveGet(SEGMENT, dest, { archive: new S3WalArchive({ ...options, client: whole }) });
    assert.ok((await readFile(dest)).equals(body));
    real.destroy();
  });
  test('a sealed object is left to its AES-GCM tags: whole, it opens byte for byte; rotted, it is DECRYPTION_FAILED (no MD5 was taken), with no file at the destination', async () => {
    const archive = new EncryptedWalArchive(new S3WalArchive(s3.storeOptions('sealed')), { keyring: Keyring.fromKeys([randomBytes(32)]) });
    const { path, body } = await walFile('sealed');
    await archivePush(path, { archive });
    const object = stored('sealed', SEGMENT);
    const bytes = await readFile(object);
    assert.ok(isSealed(bytes));
    const dest = join(work, 'sealed-dest');
    await archiveGet(SEGMENT, dest, { archive });
    assert.ok((await readFile(dest)).equals(body));
    await rm(dest);
    // A payload byte, past the header: the ETag no longer matches either, so an MD5 check would say ARCHIVE_FAILED.
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 100) ^ 0xff, bytes.length - 100);
    await writeFile(object, bytes);
    await assert.rejects(archiveGet(SEGMENT, dest, { archive }), (e: unknown) => isBackupError(e, 'DECRYPTION_FAILED'));
    await assert.rejects(stat(dest), { code: 'ENOENT' });
  });
});
