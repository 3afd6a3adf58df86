import { randomBytes } from 'node:crypto';
import { chown, mkdir, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** fsync a directory, so a rename or create inside it survives a crash. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** mkdir -p with mode 0700 for what it creates. */
export async function mkdirPrivate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Creates `path` (O_EXCL) with `body`, fsynced before it is closed. */
export async function createFileDurable(path: string, body: Buffer | string, mode = 0o600): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` atomically: a temp file beside it is written and fsynced, renamed over `path`,
 * and the directory fsynced. A reader sees the old content or the new, never a part.
 */
export async function writeFileDurable(path: string, body: Buffer | string, mode = 0o600): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await createFileDurable(temp, body, mode);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dirname(path));
}

/** A file's bytes, or `undefined` when it does not exist (any other error is thrown). */
export async function readFileIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Replaces the existing file `path` with `body` atomically (temp file, fsync, rename, directory
 * fsync), keeping its mode and, when we are root, its owner: a file the server user owns stays
 * readable by it. A symlink is followed: the file it names is replaced.
 */
export async function replaceFileKeepingOwner(path: string, body: Buffer | string): Promise<void> {
  const target = await realpath(path);
  const before = await stat(target);
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await createFileDurable(temp, body, before.mode & 0o777);
    if (process.getuid?.() === 0) await chown(temp, before.uid, before.gid);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(dirname(target));
}
