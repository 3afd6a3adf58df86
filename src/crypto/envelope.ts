// The encrypted object format (docs/security.md, "Format"). One random data key per object, sealed
// with AES-256-GCM in chunks; the data key is wrapped by a key-encryption key of the keyring.
//
//   magic "\x89PGSBE\r\n" | version 1 | log2 chunk size | key id length | key id
//   | wrap nonce (12) | wrapped data key (32) | wrap tag (16) | chunk* (ciphertext | tag (16))
//
// The wrap is bound to the key id and the object's name; the chunks to the version, chunk size
// and name, to their index (the nonce) and to being last (a flag in the nonce), so a changed byte,
// a reordered, dropped or appended chunk, a truncation and another object's header all fail. The
// chunks are not bound to the wrapped key: re-wrapping under a new key rewrites the header only.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BackupError } from '../errors.js';
import type { EncryptionOptions, Keyring } from './keyring.js';

const MAGIC = Buffer.from([0x89, 0x50, 0x47, 0x53, 0x42, 0x45, 0x0d, 0x0a]);
const VERSION = 1;
const TAG = 16;
const NONCE = 12;
const DATA_KEY = 32;
const WRAP_AAD = 'pg-split-backup wrap v1\0';
const DATA_AAD = 'pg-split-backup data v1\0';
/** Chunks of 1 MiB: a 16 MiB segment is 16 chunks, 256 bytes of tags. */
export const DEFAULT_CHUNK_LOG2 = 20;
const MIN_CHUNK_LOG2 = 12;
const MAX_CHUNK_LOG2 = 24;


/**
 * Whether `stored` is (or was) an encrypted object: its first 8 bytes match the magic in at least 6
 * places. A header with a damaged magic is still a header: taken for plaintext, its ciphertext would
 * be handed on as WAL. No plaintext we store comes close (a WAL page starts with its own magic,
 * gzip with 1f 8b, zstd with 28 b5 2f fd, a history file with digits): 6 given bytes of 8 by chance
 * is about 1 in 10^13.
 */
export function isSealed(stored: Uint8Array): boolean {
  if (stored.length < MAGIC.length) return false;
  let same = 0;
  for (let i = 0; i < MAGIC.length; i++) if (stored[i] === MAGIC[i]) same++;
  return same >= MAGIC.length - 2;
}

interface Header {
  readonly keyId: string;
  readonly chunkLog2: number;
  readonly wrapNonce: Buffer;
  readonly wrappedKey: Buffer;
  readonly wrapTag: Buffer;
  /** Bytes of the header: where the chunks start. */
  readonly length: number;
}

function failed(name: string, why: string, cause?: unknown): BackupError {
  return new BackupError('DECRYPTION_FAILED', `${name} cannot be decrypted: ${why}. Nothing was written from it; do not use it.`, {
    ...(cause !== undefined ? { cause } : {}),
    details: { object: name },
  });
}

function parseHeader(stored: Buffer, name: string): Header {
  if (!MAGIC.equals(stored.subarray(0, MAGIC.length))) throw failed(name, 'its header is damaged (magic)');
  let at = MAGIC.length;
  if (stored.length < at + 3) throw failed(name, 'it is truncated in its header');
  const version = stored[at++]!;
  if (version !== VERSION) throw failed(name, `format version ${version} is not known to this version of pg-split-backup`);
  const chunkLog2 = stored[at++]!;
  if (chunkLog2 < MIN_CHUNK_LOG2 || chunkLog2 > MAX_CHUNK_LOG2) throw failed(name, 'its header is damaged (chunk size)');
  const idLength = stored[at++]!;
  if (idLength === 0 || idLength > 64) throw failed(name, 'its header is damaged (key id)');
  const fixed = at + idLength + NONCE + DATA_KEY + TAG;
  if (stored.length < fixed + TAG) throw failed(name, 'it is truncated');
  const keyId = stored.toString('latin1', at, at + idLength);
  if (!/^[0-9a-f]+$/.test(keyId)) throw failed(name, 'its header is damaged (key id)');
  at += idLength;
  const wrapNonce = stored.subarray(at, (at += NONCE));
  const wrappedKey = stored.subarray(at, (at += DATA_KEY));
  const wrapTag = stored.subarray(at, (at += TAG));
  return { keyId, chunkLog2, wrapNonce, wrappedKey, wrapTag, length: at };
}

function headerBytes(keyId: string, chunkLog2: number, wrapNonce: Buffer, wrapped: Buffer, wrapTag: Buffer): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([VERSION, chunkLog2, keyId.length]), Buffer.from(keyId, 'latin1'), wrapNonce, wrapped, wrapTag]);
}

function wrapAad(keyId: string, name: string): Buffer {
  return Buffer.from(`${WRAP_AAD}${keyId}\0${name}`, 'utf8');
}

function dataAad(chunkLog2: number, name: string): Buffer {
  return Buffer.from(`${DATA_AAD}${VERSION}\0${chunkLog2}\0${name}`, 'utf8');
}

function wrap(kek: Buffer, keyId: string, name: string, dataKey: Buffer): { nonce: Buffer; wrapped: Buffer; tag: Buffer } {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(wrapAad(keyId, name));
  const wrapped = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return { nonce, wrapped, tag: cipher.getAuthTag() };
}

function unwrap(header: Header, keyring: Keyring | undefined, name: string): Buffer {
  const kek = keyring?.keyFor(header.keyId);
  if (kek === undefined) {
    throw new BackupError(
      'ENCRYPTION_KEY_MISSING',
      keyring === undefined
        ? `${name} is encrypted (key ${header.keyId}) and no key was given: pass --encryption-key-file (or set PGSB_ENCRYPTION_KEY_FILE). Nothing was written from it.`
        : `${name} is encrypted with key ${header.keyId}, which the keyring (${keyring.ids.join(', ')}) does not hold: add that key file. Nothing was written from it.`,
      { details: { object: name, keyId: header.keyId } },
    );
  }
  const decipher = createDecipheriv('aes-256-gcm', kek, header.wrapNonce);
  decipher.setAAD(wrapAad(header.keyId, name));
  decipher.setAuthTag(header.wrapTag);
  try {
    return Buffer.concat([decipher.update(header.wrappedKey), decipher.final()]);
  } catch (error) {
    throw failed(name, 'its header was changed or belongs to another object', error);
  }
}

function chunkNonce(index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(NONCE);
  nonce.writeUIntBE(index, 4, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/**
 * `body` sealed for the object `name` with the keyring's newest key: a new random data key, chunks
 * of 2^`chunkLog2` bytes. The output is allocated once (body + header + 16 bytes per chunk).
 */
export function seal(body: Uint8Array, name: string, keyring: Keyring, { chunkLog2 = DEFAULT_CHUNK_LOG2 }: { readonly chunkLog2?: number } = {}): Buffer {
  if (!Number.isInteger(chunkLog2) || chunkLog2 < MIN_CHUNK_LOG2 || chunkLog2 > MAX_CHUNK_LOG2) {
    throw new BackupError('INVALID_OPTION', `chunkLog2 takes ${MIN_CHUNK_LOG2} to ${MAX_CHUNK_LOG2}.`, { details: { option: 'chunkLog2' } });
  }
  const keyId = keyring.newestId;
  const dataKey = randomBytes(DATA_KEY);
  const wrapped = wrap(keyring.keyFor(keyId)!, keyId, name, dataKey);
  const header = headerBytes(keyId, chunkLog2, wrapped.nonce, wrapped.wrapped, wrapped.tag);
  const size = 1 << chunkLog2;
  const chunks = Math.max(1, Math.ceil(body.length / size));
  const out = Buffer.allocUnsafe(header.length + body.length + chunks * TAG);
  header.copy(out, 0);
  const aad = dataAad(chunkLog2, name);
  let at = header.length;
  for (let i = 0; i < chunks; i++) {
    const cipher = createCipheriv('aes-256-gcm', dataKey, chunkNonce(i, i === chunks - 1));
    cipher.setAAD(aad);
    at += cipher.update(body.subarray(i * size, Math.min(body.length, (i + 1) * size))).copy(out, at);
    at += cipher.final().copy(out, at);
    at += cipher.getAuthTag().copy(out, at);
  }
  return out;
}

/**
 * The plaintext of a sealed object, authenticated chunk by chunk. It is decrypted in place: the
 * result is a view of `stored` (which is overwritten), so a segment is never held twice. Any
 * failure throws and returns nothing: no partial plaintext ever leaves here.
 * @throws BackupError `DECRYPTION_FAILED`, `ENCRYPTION_KEY_MISSING`.
 */
export function unseal(stored: Buffer, name: string, keyring: Keyring | undefined): Buffer {
  const header = parseHeader(stored, name);
  const dataKey = unwrap(header, keyring, name);
  const size = 1 << header.chunkLog2;
  const aad = dataAad(header.chunkLog2, name);
  let read = header.length;
  let written = 0;
  for (let i = 0; ; i++) {
    const left = stored.length - read;
    const last = left <= size + TAG;
    if (left < TAG) throw failed(name, 'it is truncated');
    const plainLength = last ? left - TAG : size;
    const decipher = createDecipheriv('aes-256-gcm', dataKey, chunkNonce(i, last));
    decipher.setAAD(aad);
    decipher.setAuthTag(stored.subarray(read + plainLength, read + plainLength + TAG));
    try {
      const part = decipher.update(stored.subarray(read, read + plainLength));
      decipher.final();
      // The write position never passes the read position: the header and the tags are gone.
      part.copy(stored, written);
      written += part.length;
    } catch (error) {
      throw failed(name, last ? 'a byte was changed, or it was truncated or extended' : 'a byte was changed', error);
    }
    read += plainLength + TAG;
    if (last) break;
  }
  return stored.subarray(0, written);
}

/**
 * What a store reads, made plaintext: a sealed object is unsealed, a plaintext one passes unless
 * `requireEncrypted`.
 * @throws BackupError `DECRYPTION_FAILED`, `ENCRYPTION_KEY_MISSING`, `NOT_ENCRYPTED`.
 */
export function openObject(stored: Buffer, name: string, encryption: EncryptionOptions | undefined): Buffer {
  if (isSealed(stored)) return unseal(stored, name, encryption?.keyring);
  if (encryption?.requireEncrypted === true) {
    throw new BackupError('NOT_ENCRYPTED', `${name} is stored in plaintext, and encryption is required: it cannot be authenticated, so it was not used.`, { details: { object: name } });
  }
  return stored;
}

/** What a store writes: sealed with the newest key when there is a keyring, else as it is. */
export function sealObject(body: Buffer, name: string, encryption: EncryptionOptions | undefined): Buffer {
  return encryption?.keyring === undefined ? body : seal(body, name, encryption.keyring);
}

/** The key id of a sealed object's header, `undefined` for plaintext. */
export function sealedKeyId(stored: Buffer, name: string): string | undefined {
  return isSealed(stored) ? parseHeader(stored, name).keyId : undefined;
}

/**
 * `stored` with its data key re-wrapped under the keyring's newest key: a new header, the same
 * chunk bytes (they are not bound to the wrap). The whole object is authenticated first, so a
 * damaged object is reported, never given a fresh header. `undefined` when it is plaintext or
 * already under the newest key.
 * @throws BackupError `DECRYPTION_FAILED`, `ENCRYPTION_KEY_MISSING`.
 */
export function rewrap(stored: Buffer, name: string, keyring: Keyring): Buffer | undefined {
  if (!isSealed(stored)) return undefined;
  const header = parseHeader(stored, name);
  if (header.keyId === keyring.newestId) return undefined;
  const dataKey = unwrap(header, keyring, name);
  unseal(Buffer.from(stored), name, keyring);
  const wrapped = wrap(keyring.keyFor(keyring.newestId)!, keyring.newestId, name, dataKey);
  return Buffer.concat([headerBytes(keyring.newestId, header.chunkLog2, wrapped.nonce, wrapped.wrapped, wrapped.tag), stored.subarray(header.length)]);
}
