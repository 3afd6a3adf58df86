// The encrypted object format and the keyring, without a server: round trips at the chunk edges,
// every way an object can be damaged or swapped (each refused with its code, nothing returned),
// key files, and rotation by re-wrapping headers only.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, test } from 'node:test';
import {
  encryptionFrom,
  isSealed,
  keyIdOf,
  Keyring,
  loadKeyring,
  openObject,
  parseKeys,
  readKeyFile,
  rewrap,
  seal,
  sealedKeyId,
  unseal,
  writeNewKey,
} from '../../src/index.js';
import { key1, key2, ring1, ring12, ring2, HEADER, throwsCode, rejectsCode } from './fixtures.js';

const NAME = '000000010000000000000003';
const CHUNK_LOG2 = 12; // 4 KiB chunks: many chunks in a small object
const CHUNK = 1 << CHUNK_LOG2;


describe('envelope round trips', () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17]) {
    test(`${size} bytes`, () => {
      const body = randomBytes(size);
      const sealed = seal(body, NAME, ring1, { chunkLog2: CHUNK_LOG2 });
      assert.ok(isSealed(sealed));
      assert.equal(sealed.length, HEADER + size + Math.max(1, Math.ceil(size / CHUNK)) * 16);
      assert.equal(sealedKeyId(sealed, NAME), ring1.newestId);
      assert.ok(unseal(Buffer.from(sealed), NAME, ring1).equals(body));
    });
  }

  test('a 16 MiB segment with the default 1 MiB chunks: decrypted in place, not held twice', () => {
    const body = randomBytes(16 * 1024 * 1024);
    const sealed = seal(body, NAME, ring1);
    assert.equal(sealed.length, HEADER + body.length + 16 * 16);
    const plain = unseal(sealed, NAME, ring1);
    assert.equal(plain.buffer, sealed.buffer, 'the plaintext is a view of the stored buffer');
    assert.ok(plain.equals(body));
  });

  test('the ciphertext holds no plaintext and each sealing differs (a fresh data key)', () => {
    const body = Buffer.alloc(64 * 1024, 'PostgreSQL WAL page ');
    const a = seal(body, NAME, ring1);
    const b = seal(body, NAME, ring1);
    assert.ok(!a.equals(b));
    assert.equal(a.indexOf('PostgreSQL'), -1);
  });

  test('plaintext passes openObject (a store with older plain objects) unless encryption is required', () => {
    const plain = Buffer.from('plain history file\n');
    assert.equal(openObject(plain, '00000002.history', { keyring: ring1 }), plain);
    assert.equal(openObject(plain, '00000002.history', undefined), plain);
    throwsCode(() => openObject(plain, '00000002.history', { keyring: ring1, requireEncrypted: true }), 'NOT_ENCRYPTED');
  });

  test('nothing we store in plaintext looks sealed: WAL pages, gzip, zstd, history files', () => {
    for (const head of ['10d10600', '1f8b0800', '28b52ffd', '31093030']) assert.equal(isSealed(Buffer.from(head + '00000000', 'hex')), false, head);
  });
});

describe('tamper table: every damaged, swapped or unreadable object is refused with its code', () => {
  const body = randomBytes(3 * CHUNK + 100);
  const sealed = seal(body, NAME, ring1, { chunkLog2: CHUNK_LOG2 });
  const other = seal(randomBytes(3 * CHUNK + 100), '000000010000000000000004', ring1, { chunkLog2: CHUNK_LOG2 });
  const flip = (at: number, bit = 0): Buffer => {
    const copy = Buffer.from(sealed);
    copy[at] = copy[at]! ^ (1 << bit);
    return copy;
  };
  const chunkAt = (i: number): number => HEADER + i * (CHUNK + 16);
  const swapChunks = (): Buffer => {
    const copy = Buffer.from(sealed);
    sealed.copy(copy, chunkAt(0), chunkAt(1), chunkAt(2));
    sealed.copy(copy, chunkAt(1), chunkAt(0), chunkAt(1));
    return copy;
  };
  const idAt = 11;
  const rows: { what: string; stored: () => Buffer; name?: string; keyring?: Keyring | undefined; code: string }[] = [
    { what: 'magic, first byte', stored: () => flip(0), code: 'DECRYPTION_FAILED' },
    { what: 'magic, last byte', stored: () => flip(7, 3), code: 'DECRYPTION_FAILED' },
    { what: 'format version', stored: () => flip(8, 1), code: 'DECRYPTION_FAILED' },
    { what: 'chunk size, to another valid one', stored: () => flip(9, 0), code: 'DECRYPTION_FAILED' },
    { what: 'chunk size, out of range', stored: () => flip(9, 6), code: 'DECRYPTION_FAILED' },
    { what: 'key id length', stored: () => flip(10, 4), code: 'DECRYPTION_FAILED' },
    { what: 'key id, to an unknown id', stored: () => Buffer.concat([sealed.subarray(0, idAt), Buffer.from('0123456789abcdef'), sealed.subarray(idAt + 16)]), code: 'ENCRYPTION_KEY_MISSING' },
    { what: 'key id, to a non-hex id', stored: () => Buffer.concat([sealed.subarray(0, idAt), Buffer.from('zzzzzzzzzzzzzzzz'), sealed.subarray(idAt + 16)]), code: 'DECRYPTION_FAILED' },
    { what: 'wrap nonce', stored: () => flip(idAt + 16 + 5), code: 'DECRYPTION_FAILED' },
    { what: 'wrapped data key', stored: () => flip(idAt + 16 + 12 + 7, 7), code: 'DECRYPTION_FAILED' },
    { what: 'wrap tag', stored: () => flip(HEADER - 1), code: 'DECRYPTION_FAILED' },
    { what: 'first chunk, first byte', stored: () => flip(HEADER), code: 'DECRYPTION_FAILED' },
    { what: 'middle chunk', stored: () => flip(chunkAt(1) + 999, 2), code: 'DECRYPTION_FAILED' },
    { what: 'last chunk', stored: () => flip(chunkAt(3) + 50), code: 'DECRYPTION_FAILED' },
    { what: 'a chunk tag', stored: () => flip(chunkAt(1) - 1), code: 'DECRYPTION_FAILED' },
    { what: 'the last tag', stored: () => flip(sealed.length - 1, 5), code: 'DECRYPTION_FAILED' },
    { what: 'truncated by one byte', stored: () => sealed.subarray(0, sealed.length - 1), code: 'DECRYPTION_FAILED' },
    { what: 'truncated at a chunk boundary (last chunk dropped)', stored: () => sealed.subarray(0, chunkAt(3)), code: 'DECRYPTION_FAILED' },
    { what: 'truncated to its header', stored: () => sealed.subarray(0, HEADER), code: 'DECRYPTION_FAILED' },
    { what: 'truncated inside its header', stored: () => sealed.subarray(0, 20), code: 'DECRYPTION_FAILED' },
    { what: 'truncated to the magic', stored: () => sealed.subarray(0, 8), code: 'DECRYPTION_FAILED' },
    { what: 'extended by one byte', stored: () => Buffer.concat([sealed, Buffer.from([0])]), code: 'DECRYPTION_FAILED' },
    { what: 'a chunk appended again', stored: () => Buffer.concat([sealed, sealed.subarray(chunkAt(1), chunkAt(2))]), code: 'DECRYPTION_FAILED' },
    { what: 'two chunks swapped', stored: swapChunks, code: 'DECRYPTION_FAILED' },
    { what: 'another object under this name', stored: () => other, code: 'DECRYPTION_FAILED' },
    { what: "another object's header on this payload", stored: () => Buffer.concat([other.subarray(0, HEADER), sealed.subarray(HEADER)]), code: 'DECRYPTION_FAILED' },
    { what: 'this object read as a .gz of the same segment', stored: () => sealed, name: `${NAME}.gz`, code: 'DECRYPTION_FAILED' },
    { what: 'the wrong key (another keyring)', stored: () => sealed, keyring: ring2, code: 'ENCRYPTION_KEY_MISSING' },
    { what: 'no key at all', stored: () => sealed, keyring: undefined, code: 'ENCRYPTION_KEY_MISSING' },
  ];
  test(`${rows.length} rows (the original opens)`, () => {
    assert.ok(rows.length >= 20);
    assert.ok(unseal(Buffer.from(sealed), NAME, ring1).equals(body));
  });
  for (const row of rows) {
    test(row.what, () => {
      const stored = row.stored();
      const keyring = 'keyring' in row ? row.keyring : ring12;
      throwsCode(() => openObject(Buffer.from(stored), row.name ?? NAME, keyring === undefined ? undefined : { keyring }), row.code, row.what);
      // Messages name the object and the key id, never key material.
      try {
        openObject(Buffer.from(stored), row.name ?? NAME, keyring === undefined ? undefined : { keyring });
      } catch (error) {
        const text = JSON.stringify({ message: (error as Error).message, details: (error as { details?: unknown }).details });
        for (const key of [key1, key2]) {
          assert.ok(!text.includes(key.toString('base64')) && !text.includes(key.toString('hex')), 'no key in the error');
        }
        assert.match((error as Error).message, new RegExp(row.name === undefined ? NAME : `${NAME}\\.gz`));
      }
    });
  }
});

describe('key files and sources', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgsb-keys-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = async (name: string, content: string | Buffer, mode = 0o600): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, content, { mode });
    await chmod(path, mode);
    return path;
  };

  test('base64 lines (comments, blank lines, CRLF), oldest first; raw 32 bytes', async () => {
    const path = await keyFile('two', `# pg-split-backup\n${key1.toString('base64')}\r\n\n${key2.toString('base64')}\n`);
    const ring = await Keyring.fromFiles([path]);
    assert.deepEqual(ring.ids, [keyIdOf(key1), keyIdOf(key2)]);
    assert.equal(ring.newestId, keyIdOf(key2));
    const raw = await Keyring.fromFiles([await keyFile('raw', key1)]);
    assert.deepEqual(raw.ids, [keyIdOf(key1)]);
  });

  const refusals: { what: string; make: () => Promise<string>; code: string }[] = [
    { what: 'mode 0644', make: () => keyFile('k644', `${key1.toString('base64')}\n`, 0o644), code: 'KEY_FILE_INSECURE' },
    { what: 'mode 0640', make: () => keyFile('k640', `${key1.toString('base64')}\n`, 0o640), code: 'KEY_FILE_INSECURE' },
    { what: 'mode 0602', make: () => keyFile('k602', `${key1.toString('base64')}\n`, 0o602), code: 'KEY_FILE_INSECURE' },
    { what: 'a symlink to a 0644 file', make: async () => (await symlink(await keyFile('target644', `${key1.toString('base64')}\n`, 0o644), join(dir, 'link')), join(dir, 'link')), code: 'KEY_FILE_INSECURE' },
    { what: 'a directory', make: async () => (await mkdir(join(dir, 'adir'), { mode: 0o700 }), join(dir, 'adir')), code: 'KEY_FILE_INSECURE' },
    { what: 'a missing file', make: async () => join(dir, 'nope'), code: 'INVALID_OPTION' },
    { what: 'an empty file', make: () => keyFile('empty', ''), code: 'INVALID_KEY' },
    { what: 'not base64', make: () => keyFile('junk', 'not a key\n'), code: 'INVALID_KEY' },
    { what: 'a 16-byte key', make: () => keyFile('short', `${randomBytes(16).toString('base64')}\n`), code: 'INVALID_KEY' },
    { what: '31 raw bytes', make: () => keyFile('raw31', randomBytes(31)), code: 'INVALID_KEY' },
  ];
  for (const row of refusals) {
    test(`refused: ${row.what} (${row.code})`, async () => {
      await rejectsCode(readKeyFile(await row.make()), row.code);
    });
  }

  test('an insecure key file is refused before it is read, and the message says how to fix it', async () => {
    const path = await keyFile('loud', `${key1.toString('base64')}\n`, 0o604);
    await assert.rejects(readKeyFile(path), (error: Error) => /chmod 600/.test(error.message) && !error.message.includes(key1.toString('base64')));
  });

  test('the environment: PGSB_ENCRYPTION_KEY (comma or space separated), PGSB_ENCRYPTION_KEY_FILE; flags win; both variables is refused', async () => {
    const file = await keyFile('envfile', `${key2.toString('base64')}\n`);
    const fromVar = await loadKeyring({ env: { PGSB_ENCRYPTION_KEY: `${key1.toString('base64')}, ${key2.toString('base64')}` } });
    assert.deepEqual(fromVar?.ids, [keyIdOf(key1), keyIdOf(key2)]);
    assert.deepEqual((await loadKeyring({ env: { PGSB_ENCRYPTION_KEY_FILE: file } }))?.ids, [keyIdOf(key2)]);
    const flags = await keyFile('flags', `${key1.toString('base64')}\n`);
    assert.deepEqual((await loadKeyring({ keyFiles: [flags], env: { PGSB_ENCRYPTION_KEY_FILE: file } }))?.ids, [keyIdOf(key1)]);
    assert.equal(await loadKeyring({ env: {} }), undefined);
    await rejectsCode(loadKeyring({ env: { PGSB_ENCRYPTION_KEY_FILE: file, PGSB_ENCRYPTION_KEY: key1.toString('base64') } }), 'INVALID_OPTION');
    await rejectsCode(loadKeyring({ env: { PGSB_ENCRYPTION_KEY: 'abc' } }), 'INVALID_KEY');
    await rejectsCode(encryptionFrom({ requireEncrypted: true }, {}), 'INVALID_OPTION');
  });

  test('a keyring never shows its keys: JSON, inspect, string', () => {
    const ring = Keyring.fromKeys([key1, key2]);
    for (const text of [JSON.stringify(ring), inspect(ring, { showHidden: true, depth: 5 }), String(ring)]) {
      for (const key of [key1, key2]) assert.ok(!text.includes(key.toString('base64')) && !text.includes(key.toString('hex')), text);
    }
    assert.match(JSON.stringify(ring), new RegExp(keyIdOf(key1)));
  });

  test('writeNewKey: 0600, never over a file; --append adds the newest key and keeps the old', async () => {
    const path = join(dir, 'generated');
    const first = await writeNewKey(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    await rejectsCode(writeNewKey(path), 'ALREADY_EXISTS');
    const second = await writeNewKey(path, { append: true });
    const ring = await Keyring.fromFiles([path]);
    assert.deepEqual(ring.ids, [first, second]);
    assert.ok(!(await readFile(path, 'utf8')).includes(first), 'the file holds keys, not ids');
    // Through a symlink: the file it names gets the key, its comments and owner stay.
    const commented = await keyFile('commented', `# wal key, rotate yearly\n${key1.toString('base64')}\n`);
    if (process.getuid?.() === 0) await chown(commented, 4242, 4343);
    await symlink(commented, join(dir, 'via-link'));
    const third = await writeNewKey(join(dir, 'via-link'), { append: true });
    assert.match(await readFile(commented, 'utf8'), /^# wal key, rotate yearly\n/);
    assert.deepEqual((await Keyring.fromFiles([commented])).ids, [keyIdOf(key1), third]);
    const st = statSync(commented);
    assert.equal(st.mode & 0o777, 0o600);
    if (process.getuid?.() === 0) assert.deepEqual([st.uid, st.gid], [4242, 4343], 'the server user still owns it');
    assert.ok(lstatSync(join(dir, 'via-link')).isSymbolicLink());
    await chmod(path, 0o644);
    await rejectsCode(writeNewKey(path, { append: true }), 'KEY_FILE_INSECURE');
  });

  test('parseKeys names the line, never its content', () => {
    assert.throws(() => parseKeys(`${key1.toString('base64')}\nsecret-looking-junk\n`, 'the file'), (e: Error) => /line 2/.test(e.message) && !e.message.includes('secret-looking-junk'));
  });
});

describe('rotation: rewrap changes headers only', () => {
  test('an object sealed with key 1 opens with key 2 alone after rewrap; its payload bytes are the same', () => {
    const body = randomBytes(5 * CHUNK + 3);
    const old = seal(body, NAME, ring1, { chunkLog2: CHUNK_LOG2 });
    const payloadHash = createHash('sha256').update(old.subarray(HEADER)).digest('hex');
    // Key 2 added: new objects use it, the old one still opens.
    assert.equal(sealedKeyId(seal(body, NAME, ring12), NAME), keyIdOf(key2));
    assert.ok(unseal(Buffer.from(old), NAME, ring12).equals(body));
    const rewrapped = rewrap(old, NAME, ring12)!;
    assert.equal(sealedKeyId(rewrapped, NAME), keyIdOf(key2));
    assert.equal(createHash('sha256').update(rewrapped.subarray(HEADER)).digest('hex'), payloadHash);
    assert.ok(unseal(Buffer.from(rewrapped), NAME, ring2).equals(body), 'key 1 retired');
    throwsCode(() => unseal(Buffer.from(old), NAME, ring2), 'ENCRYPTION_KEY_MISSING');
    assert.equal(rewrap(rewrapped, NAME, ring12), undefined, 'already under the newest key');
    assert.equal(rewrap(Buffer.from('plain'), NAME, ring12), undefined, 'plaintext is left alone');
  });

  test('a damaged object is never given a fresh header', () => {
    const old = seal(randomBytes(2 * CHUNK), NAME, ring1, { chunkLog2: CHUNK_LOG2 });
    old[old.length - 20] = old[old.length - 20]! ^ 1;
    throwsCode(() => rewrap(old, NAME, ring12), 'DECRYPTION_FAILED');
    throwsCode(() => rewrap(seal(randomBytes(10), NAME, ring2), NAME, Keyring.fromKeys([key1])), 'ENCRYPTION_KEY_MISSING');
  });
});
