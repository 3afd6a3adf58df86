import { randomBytes } from 'node:crypto';
import { link, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import { parseStoreUrl } from '../stores/store-url.js';
import { throwIfAborted } from '../util/abort.js';
import { fsyncDirectory, readFileIfExists } from '../util/durable-fs.js';

/** A WAL archive that can say which files it holds. One listing per check, never a request per file. */
export interface WalArchive {
  /** A short name for messages. */
  readonly name: string;
  /** The names of the files in the archive (no directories). */
  listFileNames(options?: CallOptions): Promise<string[]>;
  /**
   * The files with their sizes and modification times, in one listing (S3: the same paginated
   * listing; a directory: one readdir and a stat per file). Optional: `info` and `expire` need it.
   */
  listFiles?(options?: CallOptions): Promise<WalArchiveFile[]>;
  /** Removes one file; a file already gone is not an error. Optional: `expire` needs it. */
  deleteFile?(name: string, options?: CallOptions): Promise<void>;
  /** Removes many files at once (S3: one request per 1000). Optional; `expire` falls back to `deleteFile`. */
  deleteFiles?(names: readonly string[], options?: CallOptions): Promise<void>;
  /** The bytes of one file as stored (archive-get; a history file for info and expire), `undefined` when the archive has no file of that name. */
  readFile?(name: string, options?: CallOptions): Promise<Buffer | undefined>;
  /**
   * archive-push: stores `body` under `name`, durably before it resolves, never replacing a file
   * already there. Resolves `true` when it stored the file, `false` when a file of that name was
   * there already (whatever its content: the caller compares). A crash leaves no partial file
   * under `name`.
   */
  createFile?(name: string, body: Buffer, options?: CallOptions): Promise<boolean>;
}

/** A file in a WAL archive, as {@link WalArchive.listFiles} reports it. */
export interface WalArchiveFile {
  /** The file name (no directory). */
  readonly name: string;
  /** Bytes. */
  readonly size: number;
  /** When it was last written (S3: LastModified): when it was archived. */
  readonly modifiedAt: Date;
}

/** A file name an archive may hold, checked before it is joined to a path or key. */
function assertPlainName(name: string): void {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new BackupError('INVALID_OPTION', `Not a file name in a WAL archive: ${JSON.stringify(name)}.`);
  }
}

/** A {@link WalArchive} that can be read and written file by file: what archive-push and archive-get need. */
export type WritableWalArchive = WalArchive & Required<Pick<WalArchive, 'readFile' | 'createFile'>>;

/** A WAL archive in a local (or mounted) directory, as `cp %p /archive/%f` fills it. */
export class FilesystemWalArchive implements WalArchive {
  readonly name: string;
  /** The archive directory. */
  readonly directory: string;
  constructor(directory: string) {
    this.directory = directory;
    this.name = pathToFileURL(directory).href;
  }

  /** The file names in the directory. */
  async listFileNames(options: CallOptions = {}): Promise<string[]> {
    throwIfAborted(options.signal);
    try {
      return (await readdir(this.directory, { withFileTypes: true })).filter((e) => !e.isDirectory()).map((e) => e.name);
    } catch (error) {
      throw new BackupError('INVALID_OPTION', `Cannot list the WAL archive ${this.directory}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The files with size and mtime: one readdir, then the stats in parallel batches. */
  async listFiles(options: CallOptions = {}): Promise<WalArchiveFile[]> {
    const names = await this.listFileNames(options);
    const files: WalArchiveFile[] = [];
    for (let i = 0; i < names.length; i += 256) {
      throwIfAborted(options.signal);
      const batch = await Promise.all(
        names.slice(i, i + 256).map(async (name) => {
          const st = await stat(join(this.directory, name)).catch((error: NodeJS.ErrnoException) => {
            if (error.code === 'ENOENT') return undefined; // removed while we listed
            throw error;
          });
          return st?.isFile() ? { name, size: st.size, modifiedAt: st.mtime } : undefined;
        }),
      );
      for (const file of batch) if (file) files.push(file);
    }
    return files;
  }

  /** The file's bytes, or `undefined` when there is none. */
  async readFile(name: string, options: CallOptions = {}): Promise<Buffer | undefined> {
    assertPlainName(name);
    throwIfAborted(options.signal);
    return readFileIfExists(join(this.directory, name));
  }

  /**
   * Writes a hidden temp file beside the target (O_EXCL), fsyncs it, then hard-links it to `name`:
   * unlike rename, link fails with EEXIST instead of replacing a file, so two writers cannot both
   * win and nothing is ever overwritten. The directory is fsynced before this resolves. The
   * archive directory must exist: a missing one may be an unmounted file system.
   */
  async createFile(name: string, body: Buffer, options: CallOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal);
    const target = join(this.directory, name);
    const temp = join(this.directory, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await open(temp, 'wx', 0o640);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await link(temp, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      }
    } finally {
      await rm(temp, { force: true });
    }
    await fsyncDirectory(this.directory);
    return true;
  }

  /** Unlinks one file of the archive directory (ENOENT is fine: someone else removed it). */
  async deleteFile(name: string, options: CallOptions = {}): Promise<void> {
    assertPlainName(name);
    throwIfAborted(options.signal);
    await unlink(join(this.directory, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
}

/**
 * Opens a WAL archive that archive-push and archive-get can use (both adapters shipped here can).
 * @throws BackupError `INVALID_URL`, or `INVALID_OPTION` when `@aws-sdk/client-s3` is missing for `s3://`.
 */
export async function openWritableWalArchive(url: string): Promise<WritableWalArchive> {
  const archive = await openWalArchive(url);
  if (typeof archive.readFile !== 'function' || typeof archive.createFile !== 'function') {
    throw new BackupError('INVALID_OPTION', `The WAL archive ${archive.name} cannot read and write single files.`, { details: { url } });
  }
  return archive as WritableWalArchive;
}

/** Opens the WAL archive a URL names: `file:///dir`, `/dir` or `s3://bucket/prefix?...` (S3 loads the AWS SDK). */
export async function openWalArchive(url: string): Promise<WalArchive> {
  const parsed = parseStoreUrl(url);
  if (parsed.kind === 'file') return new FilesystemWalArchive(parsed.directory);
  const { S3WalArchive } = await import('../stores/s3.js');
  const { kind: _kind, ...options } = parsed;
  return new S3WalArchive(options);
}
