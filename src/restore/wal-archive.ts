import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EncryptedWalArchive } from '../crypto/encrypted-wal-archive.js';
import type { EncryptionOptions } from '../crypto/keyring.js';
import { BackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import type { StaleTempOptions, WalArchive, WalArchiveFile, WritableWalArchive } from '../sinks/wal-archive-contract.js';
import { parseStoreUrl } from '../stores/store-url.js';
import { throwIfAborted } from '../util/abort.js';
import { fsyncDirectory, readFileIfExists, replaceFileKeepingOwner } from '../util/durable-fs.js';

// The contract lives with the other storage contracts (sinks/), so stores/ can implement it.
export type { StaleTempOptions, WalArchive, WalArchiveFile, WritableWalArchive } from '../sinks/wal-archive-contract.js';

// Temp files of archive-push: `.NAME.<host>-<pid>-<start>.<random>.tmp`, naming the writer so a
// later push can tell a crashed writer's file from a live one's. Older versions wrote
// `.NAME.<random>.tmp` (writer unknown).
const TEMP_NAME = /^\.(.+?)\.(?:([0-9a-f]{8})-(\d+)-(\d*)\.)?[0-9a-f]{12}\.tmp$/;

/** A temp file of a crashed writer on this host is removed once it is this old (ms): 10 minutes. */
const STALE_TEMP_DEAD_WRITER_MS = 10 * 60_000;
/** A temp file whose writer cannot be seen (another host, an older version) is removed once it is this old (ms): 24 hours. */
const STALE_TEMP_UNKNOWN_WRITER_MS = 24 * 3600_000;

const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** Field 22 of /proc/<pid>/stat (start time in clock ticks after boot), where Linux tells. */
function startTicks(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? 'gone' : fields[19];
  } catch {
    return undefined;
  }
}

/** Whether the process `pid` (started at `ticks`, when known) still runs. Errs towards "runs". */
function writerRuns(pid: number, ticks: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTicks(pid);
  if (now === 'gone') return false;
  if (now === undefined || ticks === '') return true; // cannot tell: assume it runs
  return now === ticks;
}

/** The name of a temp file this process writes for `name`. */
function tempNameFor(name: string): string {
  const ticks = startTicks(process.pid);
  return `.${name}.${HOST_TAG}-${process.pid}-${ticks === undefined || ticks === 'gone' ? '' : ticks}.${randomBytes(6).toString('hex')}.tmp`;
}

/** Whether `name` is a temp file archive-push writes before linking it into place (never a WAL file). */
export function isArchiveTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/**
 * Whether an archive-push temp file is left over from a crash and safe to remove. It is when it
 * was last written at least 10 minutes ago by a process of this host that
 * no longer runs (pid and start time, so a reused pid does not count), or, when the writer cannot
 * be seen (another host, a name without the writer), at least 24 hours
 * ago. A live push writes its temp file in well under a second and removes it at once; the age
 * guards against what a pid cannot tell (another pid namespace with the same host name). Even a
 * temp file removed under a push that is somehow still running only fails that push (its link
 * finds no file) and PostgreSQL retries: a temp file never becomes a segment by being removed.
 */
export function isStaleArchiveTemp(name: string, modifiedAt: Date, now: Date = new Date()): boolean {
  const m = TEMP_NAME.exec(name);
  if (!m) return false;
  const age = now.getTime() - modifiedAt.getTime();
  const [, , host, pid, ticks] = m;
  if (host === HOST_TAG && pid !== undefined && age >= STALE_TEMP_DEAD_WRITER_MS) return !writerRuns(Number(pid), ticks ?? '');
  return age >= STALE_TEMP_UNKNOWN_WRITER_MS;
}

/** Whether a push of `name` sweeps stale temp files: every 16th segment (its number ends in 0, compressed or not), every history file. */
function sweepsOnPush(name: string): boolean {
  const segment = /^[0-9A-F]{24}/.exec(name)?.[0];
  return segment === undefined || segment.endsWith('0');
}

/** A file name an archive may hold, checked before it is joined to a path or key. */
function assertPlainName(name: string): void {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new BackupError('INVALID_OPTION', `Not a file name in a WAL archive: ${JSON.stringify(name)}.`);
  }
}

/** Options of {@link FilesystemWalArchive}. */
export interface FilesystemWalArchiveOptions {
  /** The archive directory (archive_command's target). */
  readonly directory: string;
}

/** A WAL archive in a local (or mounted) directory, as `cp %p /archive/%f` fills it. */
export class FilesystemWalArchive implements WalArchive {
  readonly name: string;
  /** The archive directory. */
  readonly directory: string;
  constructor(options: FilesystemWalArchiveOptions);
  /** @deprecated Pass `{ directory }`: every constructor takes an options object (docs/api-conventions.md). */
  constructor(directory: string);
  constructor(options: FilesystemWalArchiveOptions | string) {
    const directory = typeof options === 'string' ? options : options?.directory;
    if (typeof directory !== 'string' || directory === '') {
      throw new BackupError('INVALID_OPTION', 'FilesystemWalArchive needs a directory.', { details: { option: 'directory' } });
    }
    this.directory = directory;
    this.name = pathToFileURL(directory).href;
  }

  /** The file names in the directory. */
  async listFileNames(options: CallOptions = {}): Promise<string[]> {
    throwIfAborted(options.signal);
    try {
      // archive-push's temp files are not archive files: never counted, listed or expired as such.
      return (await readdir(this.directory, { withFileTypes: true })).filter((e) => !e.isDirectory() && !isArchiveTempName(e.name)).map((e) => e.name);
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
   * archive directory must exist: a missing one may be an unmounted file system. While the temp
   * file of every 16th segment (and of every other kind of file) is written, the temp files of
   * crashed pushes are removed ({@link isStaleArchiveTemp}): a listing of an archive of 200,000
   * files takes longer than the write, and crashed pushes are rare. That cleanup never fails the push.
   */
  async createFile(name: string, body: Buffer, options: CallOptions = {}): Promise<boolean> {
    assertPlainName(name);
    throwIfAborted(options.signal);
    const target = join(this.directory, name);
    const temp = join(this.directory, tempNameFor(name));
    try {
      const write = (async () => {
        const handle = await open(temp, 'wx', 0o640);
        try {
          await handle.writeFile(body);
          await handle.sync();
        } finally {
          await handle.close();
        }
      })();
      // Overlaps the write and fsync: one readdir, a stat only for temp files.
      const cleanup = sweepsOnPush(name) ? this.removeStaleTempFiles().catch(() => []) : undefined;
      await Promise.all([write, cleanup]);
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

  /** `keys rewrap`: replaces a file through a temp file, fsync and rename (atomic), keeping its mode and owner. */
  async replaceFile(name: string, body: Buffer, options: CallOptions = {}): Promise<void> {
    assertPlainName(name);
    throwIfAborted(options.signal);
    await replaceFileKeepingOwner(join(this.directory, name), body);
  }

  /** Removes (or with `dryRun` lists) the temp files of crashed pushes: {@link isStaleArchiveTemp}. */
  async removeStaleTempFiles(options: StaleTempOptions = {}): Promise<string[]> {
    throwIfAborted(options.signal);
    const now = options.now ?? new Date();
    const stale: string[] = [];
    for (const name of await readdir(this.directory)) {
      if (!isArchiveTempName(name)) continue;
      const st = await stat(join(this.directory, name)).catch(() => undefined);
      if (!st?.isFile() || !isStaleArchiveTemp(name, st.mtime, now)) continue;
      if (options.dryRun !== true) await rm(join(this.directory, name), { force: true });
      stale.push(name);
    }
    return stale.sort();
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

/** Options of {@link openWalArchive} and {@link openWritableWalArchive}. */
export interface OpenWalArchiveOptions {
  /** Seal new files with the keyring's newest key, open sealed ones; see `EncryptionOptions`. Without it, a sealed file is refused (`ENCRYPTION_KEY_MISSING`). */
  readonly encryption?: EncryptionOptions;
}

/**
 * Opens a WAL archive that archive-push and archive-get can use (both adapters shipped here can).
 * @throws BackupError `INVALID_URL`, or `INVALID_OPTION` when `@aws-sdk/client-s3` is missing for `s3://`.
 */
export async function openWritableWalArchive(url: string, options: OpenWalArchiveOptions = {}): Promise<WritableWalArchive> {
  const archive = await openWalArchive(url, options);
  if (typeof archive.readFile !== 'function' || typeof archive.createFile !== 'function') {
    throw new BackupError('INVALID_OPTION', `The WAL archive ${archive.name} cannot read and write single files.`, { details: { url } });
  }
  return archive as WritableWalArchive;
}

/**
 * Opens the WAL archive a URL names: `file:///dir`, `/dir` or `s3://bucket/prefix?...` (S3 loads the
 * AWS SDK), as an {@link EncryptedWalArchive}: files are sealed and opened with `encryption`, and
 * a sealed file is never read as WAL without its key.
 */
export async function openWalArchive(url: string, options: OpenWalArchiveOptions = {}): Promise<EncryptedWalArchive> {
  const parsed = parseStoreUrl(url);
  if (parsed.kind === 'file') return new EncryptedWalArchive(new FilesystemWalArchive({ directory: parsed.directory }), options.encryption);
  const { S3WalArchive } = await import('../stores/s3.js');
  const { kind: _kind, ...s3 } = parsed;
  return new EncryptedWalArchive(new S3WalArchive(s3), options.encryption);
}
