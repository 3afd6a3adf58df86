import type { CallOptions } from './contract.js';

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
  /**
   * Replaces the file `name` with `body`, atomically (readers see the old bytes or the new, never a
   * mix) and durably. Only `keys rewrap` calls it, to give a sealed file a new header over the same
   * payload. Optional.
   */
  replaceFile?(name: string, body: Buffer, options?: CallOptions): Promise<void>;
  /**
   * Removes the temp files of pushes that crashed (see `isStaleArchiveTemp`) and returns
   * their names; with `dryRun` only returns them. Optional: only archives that write temp files
   * beside the WAL have it (`expire` calls it).
   */
  removeStaleTempFiles?(options?: StaleTempOptions): Promise<string[]>;
}

/** Options of {@link WalArchive.removeStaleTempFiles}. */
export interface StaleTempOptions extends CallOptions {
  /** List the stale temp files, remove nothing. @default false */
  readonly dryRun?: boolean;
  /** The time ages are measured against. @default now */
  readonly now?: Date;
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

/** A {@link WalArchive} that can be read and written file by file: what archive-push and archive-get need. */
export type WritableWalArchive = WalArchive & Required<Pick<WalArchive, 'readFile' | 'createFile'>>;
