import { readdir } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { BackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import { parseStoreUrl } from '../stores/store-url.js';
import { throwIfAborted } from '../util/abort.js';

/** A WAL archive that can say which files it holds. One listing per check, never a request per file. */
export interface WalArchive {
  /** A short name for messages. */
  readonly name: string;
  /** The names of the files in the archive (no directories). */
  listFileNames(options?: CallOptions): Promise<string[]>;
}

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
}

/** Opens the WAL archive a URL names: `file:///dir`, `/dir` or `s3://bucket/prefix?...` (S3 loads the AWS SDK). */
export async function openWalArchive(url: string): Promise<WalArchive> {
  const parsed = parseStoreUrl(url);
  if (parsed.kind === 'file') return new FilesystemWalArchive(parsed.directory);
  const { S3WalArchive } = await import('../stores/s3.js');
  const { kind: _kind, ...options } = parsed;
  return new S3WalArchive(options);
}
