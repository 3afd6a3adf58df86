import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openObject, sealObject } from '../crypto/envelope.js';
import type { EncryptionOptions } from '../crypto/keyring.js';
import { rewrapObjects, type RewrapOptions, type RewrapReport } from '../crypto/rewrap.js';
import { BackupError } from '../errors.js';
import type { CallOptions, LabelStore, SinkReceipt, SummarySink } from '../sinks/contract.js';
import { assertBackupId, isValidBackupId } from '../summary/backup-id.js';
import { decodeSummary, encodeSummary, SUMMARY_JSON } from '../summary/encoding.js';
import type { BackupSummary } from '../summary/summary.js';
import { throwIfAborted } from '../util/abort.js';
import { createFileDurable, fsyncDirectory, mkdirPrivate, readFileIfExists, replaceFileKeepingOwner } from '../util/durable-fs.js';

/** Options of {@link FilesystemSummaryStore}. */
export interface FilesystemSummaryStoreOptions {
  /** The directory holding one sub-directory per backup ID. Created (0700) if missing. */
  readonly directory: string;
  /** Seal every file written with the keyring's newest key, open sealed ones on read (`EncryptionOptions`). */
  readonly encryption?: EncryptionOptions;
}

/**
 * Summaries in a local directory: `<directory>/<id>/backup_label`, `tablespace_map` (only when
 * non-empty) and `summary.json` (metadata and checksums). A summary appears whole or not at all:
 * it is built in a temp directory, fsynced, and renamed into place. Files are 0600, directories 0700.
 *
 * @example
 * ```ts
 * const store = new FilesystemSummaryStore({ directory: '/var/backups/pg-summaries' });
 * const summary = await store.get('nightly-2026-11-25'); // checksums verified
 * ```
 */
export class FilesystemSummaryStore implements SummarySink, LabelStore {
  readonly name: string;
  readonly #directory: string;
  readonly #encryption: EncryptionOptions | undefined;

  constructor(options: FilesystemSummaryStoreOptions) {
    if (typeof options?.directory !== 'string' || options.directory === '') {
      throw new BackupError('INVALID_OPTION', 'FilesystemSummaryStore needs a directory.', { details: { option: 'directory' } });
    }
    this.#directory = resolve(options.directory);
    this.#encryption = options.encryption;
    this.name = pathToFileURL(this.#directory).href;
  }

  /** The absolute directory. */
  get directory(): string {
    return this.#directory;
  }

  /** Writes once: the same summary again is a no-op, another one under the same ID is `ALREADY_EXISTS`. */
  async write(summary: BackupSummary, options: CallOptions = {}): Promise<SinkReceipt> {
    assertBackupId(summary.id);
    throwIfAborted(options.signal);
    const files = encodeSummary(summary);
    const sealed = files.map((file) => ({ name: file.name, body: sealObject(file.body, `${summary.id}/${file.name}`, this.#encryption) }));
    const target = join(this.#directory, summary.id);
    const location = `${pathToFileURL(target).href}/`;
    await mkdirPrivate(this.#directory);
    if (await this.has(summary.id)) return this.#compare(summary, files, location);
    const temp = join(this.#directory, `.tmp-${summary.id}-${randomBytes(6).toString('hex')}`);
    try {
      await mkdirPrivate(temp);
      for (const file of sealed) {
        if (file.name.includes('/')) await mkdirPrivate(join(temp, dirname(file.name)));
        await createFileDurable(join(temp, file.name), file.body);
      }
      for (const sub of new Set(files.filter((f) => f.name.includes('/')).map((f) => dirname(f.name)))) await fsyncDirectory(join(temp, sub));
      await fsyncDirectory(temp);
      throwIfAborted(options.signal);
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      // Another writer got there first: theirs stands; ours is fine only if it is the same.
      if (code === 'EEXIST' || code === 'ENOTEMPTY') return this.#compare(summary, files, location);
      throw error;
    }
    await fsyncDirectory(this.#directory);
    return { location, written: true };
  }

  /** The summary of `id`, checksums verified. */
  async get(id: string, options: CallOptions = {}): Promise<BackupSummary> {
    assertBackupId(id);
    throwIfAborted(options.signal);
    const dir = join(this.#directory, id);
    return decodeSummary(id, async (name) => {
      const stored = await readFileIfExists(join(dir, name));
      return stored === undefined ? undefined : openObject(stored, `${id}/${name}`, this.#encryption);
    });
  }

  /** Whether a complete summary for `id` exists. */
  async has(id: string, options: CallOptions = {}): Promise<boolean> {
    assertBackupId(id);
    throwIfAborted(options.signal);
    try {
      return (await stat(join(this.#directory, id, SUMMARY_JSON))).isFile();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** IDs of complete summaries, sorted. */
  async list(options: CallOptions = {}): Promise<string[]> {
    throwIfAborted(options.signal);
    let entries: string[];
    try {
      entries = await readdir(this.#directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const ids: string[] = [];
    for (const entry of entries) if (isValidBackupId(entry) && (await this.has(entry))) ids.push(entry);
    return ids.sort();
  }

  /** Removes a summary (renamed away first, so it is never seen half-deleted). */
  async delete(id: string, options: CallOptions = {}): Promise<void> {
    assertBackupId(id);
    throwIfAborted(options.signal);
    const target = join(this.#directory, id);
    // Rename first so a half-deleted summary is never seen as complete.
    const doomed = join(this.#directory, `.tmp-${id}-${randomBytes(6).toString('hex')}`);
    try {
      await rename(target, doomed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await fsyncDirectory(this.#directory);
    await rm(doomed, { recursive: true, force: true });
  }

  /** `check`: writes a probe file beside the summaries (never a summary), fsynced, reads it back and removes it. */
  async probeWrite(options: CallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    await mkdirPrivate(this.#directory);
    const probe = join(this.#directory, `.probe-${randomBytes(6).toString('hex')}`);
    const body = randomBytes(32);
    try {
      await createFileDurable(probe, body);
      if (!(await readFileIfExists(probe))?.equals(body)) throw new Error(`${probe} did not read back as written`);
    } finally {
      await rm(probe, { force: true });
    }
  }

  /** `keys rewrap`: every sealed file's data key wrapped under the keyring's newest key, payloads untouched. */
  async rewrapKeys(options: RewrapOptions): Promise<RewrapReport> {
    return rewrapObjects(
      {
        name: this.name,
        list: async (o) => {
          const names: string[] = [];
          for (const id of await this.list(o)) {
            for (const entry of await readdir(join(this.#directory, id), { recursive: true, withFileTypes: true })) {
              if (entry.isFile()) names.push(relative(this.#directory, join(entry.parentPath ?? entry.path, entry.name)));
            }
          }
          return names;
        },
        read: (name) => readFileIfExists(join(this.#directory, name)),
        replace: (name, body) => replaceFileKeepingOwner(join(this.#directory, name), body),
      },
      options,
    );
  }

  async #compare(summary: BackupSummary, files: ReturnType<typeof encodeSummary>, location: string): Promise<SinkReceipt> {
    const dir = join(this.#directory, summary.id);
    for (const file of files) {
      // Plaintext compared: each sealing of the same summary gives other bytes.
      const stored = await readFileIfExists(join(dir, file.name));
      const existing = stored === undefined ? undefined : openObject(stored, `${summary.id}/${file.name}`, this.#encryption);
      if (existing === undefined || !existing.equals(file.body)) {
        throw new BackupError('ALREADY_EXISTS', `A different summary for backup ${summary.id} already exists in ${this.name}; it was left as it is.`, {
          details: { id: summary.id, location },
        });
      }
    }
    return { location, written: false };
  }
}
