import { createHash, randomBytes } from 'node:crypto';
import { constants, open, readFile, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import { inspect } from 'node:util';
import { BackupError } from '../errors.js';
import { createFileDurable, fsyncDirectory, replaceFileKeepingOwner } from '../util/durable-fs.js';

/** Bytes of a key-encryption key: AES-256. */
export const KEY_BYTES = 32;

/** The environment variable holding keys (base64, oldest first, separated by spaces, commas or newlines). */
export const ENCRYPTION_KEY_VARIABLE = 'PGSB_ENCRYPTION_KEY';
/** The environment variable naming a key file, used when no `--encryption-key-file` is given. */
export const ENCRYPTION_KEY_FILE_VARIABLE = 'PGSB_ENCRYPTION_KEY_FILE';

const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

/**
 * The id of a key: 16 hex digits of SHA-256 over a domain tag and the key. It names the key in
 * headers and messages; with 256-bit keys it tells nothing about the key.
 */
export function keyIdOf(key: Uint8Array): string {
  return createHash('sha256').update('pg-split-backup key id v1\0').update(key).digest('hex').slice(0, 16);
}

/**
 * Key-encryption keys, oldest first. New objects are sealed with the newest (the last); every key
 * opens what it sealed. Rotation is adding a key at the end: nothing stored is rewritten. The keys
 * never show in `JSON.stringify`, `util.inspect` or messages: only their ids do.
 */
export class Keyring {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #newest: string;

  private constructor(keys: Map<string, Buffer>, newest: string) {
    this.#keys = keys;
    this.#newest = newest;
  }

  /**
   * A keyring of 32-byte keys, oldest first (a key given twice counts once, at its last place).
   * @throws BackupError `INVALID_KEY` for no key or a key of another length.
   */
  static fromKeys(keys: readonly Uint8Array[]): Keyring {
    if (!Array.isArray(keys) || keys.length === 0) throw new BackupError('INVALID_KEY', 'A keyring needs at least one key.');
    const map = new Map<string, Buffer>();
    let newest = '';
    for (const [i, key] of keys.entries()) {
      if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
        throw new BackupError('INVALID_KEY', `Key ${i + 1} is not ${KEY_BYTES} bytes.`, { details: { index: i } });
      }
      newest = keyIdOf(key);
      map.delete(newest);
      map.set(newest, Buffer.from(key));
    }
    return new Keyring(map, newest);
  }

  /**
   * The keys of key files, file after file, each file's keys oldest first ({@link readKeyFile}).
   * @throws BackupError `KEY_FILE_INSECURE`, `INVALID_KEY`, `INVALID_OPTION` (unreadable file).
   */
  static async fromFiles(paths: readonly string[]): Promise<Keyring> {
    const keys: Buffer[] = [];
    for (const path of paths) keys.push(...(await readKeyFile(path)));
    return Keyring.fromKeys(keys);
  }

  /** The key ids, oldest first. */
  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  /** The id of the key new objects are sealed with. */
  get newestId(): string {
    return this.#newest;
  }

  /** Whether the keyring holds the key `id`. */
  has(id: string): boolean {
    return this.#keys.has(id);
  }

  /** @internal The key `id`, for the envelope only. */
  keyFor(id: string): Buffer | undefined {
    return this.#keys.get(id);
  }

  /** A keyring without the key `id` (to retire it after `keys rewrap`). */
  without(id: string): Keyring {
    const keys = [...this.#keys].filter(([k]) => k !== id).map(([, key]) => key);
    return Keyring.fromKeys(keys);
  }

  /** The ids only: a keyring never serialises its keys. */
  toJSON(): {
    /** The key ids, oldest first. */
    readonly keyIds: string[];
  } {
    return { keyIds: this.ids };
  }

  /** What `util.inspect` (and so `console.log`) shows: the ids only. */
  [inspect.custom](): string {
    return `Keyring { keyIds: ${JSON.stringify(this.ids)} }`;
  }
}

/** How a store treats what it reads and writes. */
export interface EncryptionOptions {
  /**
   * Seals what is written with the newest key; opens what any of its keys sealed. Without one,
   * writes are plaintext and an encrypted object is refused (`ENCRYPTION_KEY_MISSING`).
   */
  readonly keyring?: Keyring;
  /** Refuse plaintext objects on read (`NOT_ENCRYPTED`): once every object is encrypted, nobody can slip in an unauthenticated one. @default false */
  readonly requireEncrypted?: boolean;
}

/** A new key as key-file text: 32 random bytes, base64, one line. */
export function generateKeyText(): string {
  return `${randomBytes(KEY_BYTES).toString('base64')}\n`;
}

/**
 * The keys of a key file's content: exactly 32 bytes are one raw key; anything else is text with one
 * base64 key per line (blank lines and `#` comments skipped), oldest first.
 * @throws BackupError `INVALID_KEY` naming `source` and the line, never the content.
 */
export function parseKeys(content: Buffer | string, source: string): Buffer[] {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  if (bytes.length === KEY_BYTES) return [Buffer.from(bytes)];
  const keys: Buffer[] = [];
  const lines = bytes.toString('utf8').split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    for (const word of line.split(/[\s,]+/).filter(Boolean)) {
      if (!BASE64_KEY.test(word)) {
        throw new BackupError('INVALID_KEY', `${source}, line ${i + 1}: not a base64 32-byte key (pg-split-backup keys generate writes one).`, { details: { source, line: i + 1 } });
      }
      keys.push(Buffer.from(word, 'base64'));
    }
  }
  if (keys.length === 0) throw new BackupError('INVALID_KEY', `${source} holds no key (pg-split-backup keys generate writes one).`, { details: { source } });
  return keys;
}

/**
 * The keys of a key file. Refused before a byte is read when it is not a regular file or group or
 * others may read or write it (as ssh refuses a private key): such a key may already be known.
 * @throws BackupError `KEY_FILE_INSECURE`, `INVALID_KEY`, `INVALID_OPTION` (missing, unreadable).
 */
export async function readKeyFile(path: string): Promise<Buffer[]> {
  if (typeof path !== 'string' || path === '') throw new BackupError('INVALID_OPTION', 'A key file path is empty.', { details: { option: 'encryptionKeyFile' } });
  let handle;
  try {
    // O_NOFOLLOW is not used: a symlink to a 0600 file is fine; fstat checks the file itself.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new BackupError('INVALID_OPTION', `Cannot open the key file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`, {
      cause: error,
      details: { path },
    });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new BackupError('KEY_FILE_INSECURE', `The key file ${path} is not a regular file.`, { details: { path } });
    if ((st.mode & 0o077) !== 0) {
      throw new BackupError('KEY_FILE_INSECURE', `The key file ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); it was not read. chmod 600 it, and replace the key if others may have read it.`, {
        details: { path, mode: (st.mode & 0o777).toString(8) },
      });
    }
    if (st.size > 64 * 1024) throw new BackupError('INVALID_KEY', `The key file ${path} is larger than 64 KiB: not a key file.`, { details: { path } });
    return parseKeys(await handle.readFile(), path);
  } finally {
    await handle.close();
  }
}

/** Where {@link loadKeyring} takes keys from. */
export interface KeySources {
  /** Key files, oldest first; when given, the environment is not read. */
  readonly keyFiles?: readonly string[];
  /** The environment: {@link ENCRYPTION_KEY_FILE_VARIABLE} or {@link ENCRYPTION_KEY_VARIABLE}. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The keyring the given key files or, without any, the environment hold; `undefined` when neither
 * names a key (no encryption). Both variables set at once is refused: which one wins would be a guess.
 * @throws BackupError `KEY_FILE_INSECURE`, `INVALID_KEY`, `INVALID_OPTION`.
 */
export async function loadKeyring(sources: KeySources = {}): Promise<Keyring | undefined> {
  if (sources.keyFiles !== undefined && sources.keyFiles.length > 0) return Keyring.fromFiles(sources.keyFiles);
  const env = sources.env ?? process.env;
  const file = env[ENCRYPTION_KEY_FILE_VARIABLE];
  const text = env[ENCRYPTION_KEY_VARIABLE];
  if (file !== undefined && file !== '' && text !== undefined && text !== '') {
    throw new BackupError('INVALID_OPTION', `Both ${ENCRYPTION_KEY_FILE_VARIABLE} and ${ENCRYPTION_KEY_VARIABLE} are set: set one.`, { details: { option: ENCRYPTION_KEY_VARIABLE } });
  }
  if (file !== undefined && file !== '') return Keyring.fromFiles([file]);
  if (text !== undefined && text !== '') return Keyring.fromKeys(parseKeys(text.replace(/,/g, '\n'), ENCRYPTION_KEY_VARIABLE));
  return undefined;
}

/** What a process given paths, never keys, needs to find its encryption (the pusher, the prefetcher, the holder: their configuration travels in argv or IPC). */
export interface EncryptionSettings {
  /** Key files, oldest first; without any, the environment ({@link loadKeyring}). */
  readonly encryptionKeyFiles?: readonly string[];
  /** Refuse plaintext objects on read. @default false */
  readonly requireEncrypted?: boolean;
}

/**
 * The encryption {@link EncryptionSettings} describe: the keyring of the key files or the
 * environment, and the plaintext policy; `undefined` for none.
 * @throws BackupError `KEY_FILE_INSECURE`, `INVALID_KEY`, `INVALID_OPTION`, and `INVALID_OPTION`
 * when plaintext is refused but no key is given.
 */
export async function encryptionFrom(settings: EncryptionSettings = {}, env: NodeJS.ProcessEnv = process.env): Promise<EncryptionOptions | undefined> {
  const keyring = await loadKeyring({ ...(settings.encryptionKeyFiles !== undefined ? { keyFiles: settings.encryptionKeyFiles } : {}), env });
  if (keyring === undefined && settings.requireEncrypted === true) {
    throw new BackupError('INVALID_OPTION', `Encryption is required, but no key is given: pass --encryption-key-file or set ${ENCRYPTION_KEY_FILE_VARIABLE}.`, { details: { option: 'requireEncrypted' } });
  }
  if (keyring === undefined) return undefined;
  return { keyring, ...(settings.requireEncrypted === true ? { requireEncrypted: true } : {}) };
}

/**
 * `keys generate`: writes a new key to `path` (mode 0600, never over an existing file) or, with
 * `append`, adds it as the newest key of an existing key file (checked as {@link readKeyFile}
 * checks it, then replaced atomically, its comments and owner kept). Resolves with the new key's id; the key itself is only
 * ever in the file.
 * @throws BackupError `ALREADY_EXISTS` (the file exists, no `append`), `KEY_FILE_INSECURE`, `INVALID_KEY`, `INVALID_OPTION`.
 */
export async function writeNewKey(path: string, { append = false }: { readonly append?: boolean } = {}): Promise<string> {
  const text = generateKeyText();
  const id = keyIdOf(Buffer.from(text.trim(), 'base64'));
  if (append) {
    // The file a symlink names is the one changed; its owner stays (the server user reads it).
    const target = await realpath(path);
    await readKeyFile(target);
    const raw = await readFile(target);
    const before = raw.length === KEY_BYTES ? `${raw.toString('base64')}\n` : raw.toString('utf8').replace(/\n?$/, '\n');
    await replaceFileKeepingOwner(target, before + text);
    return id;
  }
  try {
    await createFileDurable(path, text, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BackupError('ALREADY_EXISTS', `${path} exists; it was left as it is (--append adds a key to it).`, { details: { path } });
    }
    throw new BackupError('INVALID_OPTION', `Cannot create the key file ${path}: ${(error as Error).message}.`, { cause: error, details: { path } });
  }
  await fsyncDirectory(dirname(path));
  return id;
}
