import { BackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import type { StaleTempOptions, WalArchive, WalArchiveFile } from '../sinks/wal-archive-contract.js';
import { openObject, sealObject } from './envelope.js';
import type { EncryptionOptions } from './keyring.js';
import { rewrapObjects, type RewrapOptions, type RewrapReport } from './rewrap.js';

/**
 * A WAL archive whose files are sealed on the way in (when a keyring is given) and opened on the way
 * out: archive-push compresses, then this encrypts; archive-get gets plaintext or an error, never
 * ciphertext. Plain and sealed files may sit side by side (encryption turned on later): reads tell
 * them apart by the header. Every archive `openWalArchive` opens is one, keys or not, so a sealed
 * file read without its key is refused (`ENCRYPTION_KEY_MISSING`), not handed on as WAL.
 */
export class EncryptedWalArchive implements WalArchive {
  readonly name: string;
  readonly #inner: WalArchive;
  readonly #encryption: EncryptionOptions;
  readonly listFiles?: (options?: CallOptions) => Promise<WalArchiveFile[]>;
  readonly deleteFile?: (name: string, options?: CallOptions) => Promise<void>;
  readonly deleteFiles?: (names: readonly string[], options?: CallOptions) => Promise<void>;
  readonly removeStaleTempFiles?: (options?: StaleTempOptions) => Promise<string[]>;

  constructor(inner: WalArchive, encryption: EncryptionOptions = {}) {
    this.#inner = inner;
    this.#encryption = encryption;
    this.name = inner.name;
    // Only what the inner archive has: callers test for the optional methods.
    if (inner.listFiles) this.listFiles = inner.listFiles.bind(inner);
    if (inner.deleteFile) this.deleteFile = inner.deleteFile.bind(inner);
    if (inner.deleteFiles) this.deleteFiles = inner.deleteFiles.bind(inner);
    if (inner.removeStaleTempFiles) this.removeStaleTempFiles = inner.removeStaleTempFiles.bind(inner);
  }

  /** The archive beneath, whose files are the stored (sealed) bytes. */
  get inner(): WalArchive {
    return this.#inner;
  }

  /** Whether new files are sealed. */
  get encrypts(): boolean {
    return this.#encryption.keyring !== undefined;
  }

  listFileNames(options?: CallOptions): Promise<string[]> {
    return this.#inner.listFileNames(options);
  }

  /** The plaintext of `name`, authenticated; `undefined` when the archive has no such file. */
  async readFile(name: string, options?: CallOptions): Promise<Buffer | undefined> {
    const stored = await this.#reader()(name, options);
    return stored === undefined ? undefined : openObject(stored, name, this.#encryption);
  }

  /** Stores `body` sealed for `name` (write-once, as the archive beneath stores it). */
  async createFile(name: string, body: Buffer, options?: CallOptions): Promise<boolean> {
    const create = this.#inner.createFile;
    if (create === undefined) throw new BackupError('INVALID_OPTION', `The WAL archive ${this.name} cannot write single files.`);
    return create.call(this.#inner, name, sealObject(body, name, this.#encryption), options);
  }

  /** `keys rewrap`: every sealed file's data key wrapped under the keyring's newest key, payloads untouched. */
  async rewrapKeys(options: RewrapOptions): Promise<RewrapReport> {
    const replace = this.#inner.replaceFile;
    if (replace === undefined) throw new BackupError('INVALID_OPTION', `The WAL archive ${this.name} cannot replace files, so its keys cannot be re-wrapped.`);
    return rewrapObjects(
      { name: this.name, list: (o) => this.#inner.listFileNames(o), read: (n, o) => this.#reader()(n, o), replace: (n, b, o) => replace.call(this.#inner, n, b, o) },
      options,
    );
  }

  #reader(): (name: string, options?: CallOptions) => Promise<Buffer | undefined> {
    const read = this.#inner.readFile;
    if (read === undefined) throw new BackupError('INVALID_OPTION', `The WAL archive ${this.name} cannot read single files.`);
    return read.bind(this.#inner);
  }
}
