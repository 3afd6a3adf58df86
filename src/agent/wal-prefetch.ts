// archive-get --prefetch: restore_command from a remote archive spends most of its time waiting
// on the network, one segment at a time. A detached prefetcher keeps the next segments, already
// decompressed, in a bounded local queue; archive-get takes its segment from there (a rename) when
// it is queued. The queue is cleared when recovery ends (no recovery.signal, standby.signal or
// recovery.conf left in the data directory) or when nobody has asked for a while.
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BackupError } from '../errors.js';
import { archiveGet, findStoredWal, writeWholeFile, type ArchiveGetResult } from '../restore/archive-get.js';
import { assertArchivableName } from '../restore/archive-push.js';
import { openWritableWalArchive } from '../restore/wal-archive.js';
import { decompressWal } from '../restore/wal-compression.js';
import { sleep } from '../util/abort.js';
import type { CallOptions } from '../sinks/contract.js';
import { isRunning } from './state/process.js';
import { readSpoolLock, startDetached, takeSpoolLock } from './spool-process.js';

/** Options of {@link archiveGetPrefetched}. */
export interface ArchiveGetPrefetchOptions extends CallOptions {
  /** The archive URL: the prefetcher is another process. */
  readonly archive: string;
  /** The data directory being recovered (`%p` is relative to it). @default process.cwd() */
  readonly dataDirectory?: string;
  /** Segments kept ready ahead of the one asked for. @default 8 */
  readonly prefetch?: number;
  /** Where the queue lives; best on the file system of pg_wal (a rename). @default `<data dir>/pg_wal/pgsb-prefetch` */
  readonly queueDirectory?: string;
}

/** The prefetcher's configuration (argv, JSON). */
export interface PrefetcherConfig {
  readonly archive: string;
  readonly dataDirectory: string;
  readonly queueDirectory: string;
  readonly prefetch: number;
  readonly segmentSize: number;
  /** Parallel downloads. */
  readonly parallel: number;
  /** Exit (and clear the queue) after this long without a request, ms. */
  readonly idleMs: number;
}

const LOCK = 'prefetcher.lock';
const LOG = 'prefetcher.log';
const WANTED = 'wanted';
const SEGMENT = /^[0-9A-F]{24}$/;

/** The segment after `name` for `segmentSize`-byte segments. */
export function nextSegmentName(name: string, segmentSize: number): string {
  const perLog = 0x1_0000_0000 / segmentSize;
  let log = parseInt(name.slice(8, 16), 16);
  let seg = parseInt(name.slice(16, 24), 16) + 1;
  if (seg >= perLog) {
    log += 1;
    seg = 0;
  }
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
  return name.slice(0, 8) + hex(log) + hex(seg);
}

const isSegmentSize = (n: number): boolean => n >= 1 << 20 && n <= 1 << 30 && (n & (n - 1)) === 0;

function resolveOptions(options: ArchiveGetPrefetchOptions): { dataDirectory: string; queueDirectory: string; prefetch: number } {
  const dataDirectory = resolve(options.dataDirectory ?? process.cwd());
  const prefetch = options.prefetch ?? 8;
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 256) {
    throw new BackupError('INVALID_OPTION', `prefetch must be an integer from 1 to 256, got ${String(prefetch)}.`, { details: { option: 'prefetch' } });
  }
  return { dataDirectory, queueDirectory: resolve(dataDirectory, options.queueDirectory ?? join('pg_wal', 'pgsb-prefetch')), prefetch };
}

/** What {@link archiveGetPrefetched} did. */
export interface ArchiveGetPrefetchResult extends ArchiveGetResult {
  /** Served from the prefetch queue, not fetched now. */
  readonly fromQueue: boolean;
}

/**
 * restore_command with prefetch: takes `walFile` from the local queue when the prefetcher has it
 * (a rename: whole or nothing), else fetches it as {@link archiveGet} does; then tells the
 * prefetcher (starting one when none runs) to fill the queue with the segments after it.
 * History, `.partial` and `.backup` files are always fetched directly.
 * @throws BackupError `WAL_NOT_FOUND`, `ARCHIVE_FAILED`, as {@link archiveGet}.
 */
export async function archiveGetPrefetched(walFile: string, destination: string, options: ArchiveGetPrefetchOptions): Promise<ArchiveGetPrefetchResult> {
  assertArchivableName(walFile);
  const { dataDirectory, queueDirectory, prefetch } = resolveOptions(options);
  const target = resolve(dataDirectory, destination);
  if (!SEGMENT.test(walFile)) return { ...(await archiveGet(walFile, target, options)), fromQueue: false };
  await mkdir(queueDirectory, { recursive: true, mode: 0o700 });
  // Ask first: the prefetcher drops what is older and starts on what is next.
  await writeWholeFile(join(queueDirectory, WANTED), Buffer.from(walFile));
  let result: ArchiveGetPrefetchResult;
  const queued = join(queueDirectory, walFile);
  try {
    await rename(queued, target);
    result = { walFile, storedAs: walFile, destination: target, bytes: (await stat(target)).size, fromQueue: true };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EXDEV') {
      await writeWholeFile(target, await readFile(queued));
      await rm(queued, { force: true });
      result = { walFile, storedAs: walFile, destination: target, bytes: (await stat(target)).size, fromQueue: true };
    } else if (code === 'ENOENT') {
      result = { ...(await archiveGet(walFile, target, options)), fromQueue: false };
    } else {
      throw error;
    }
  }
  if (isSegmentSize(result.bytes) && !isRunning(await readSpoolLock(join(queueDirectory, LOCK)))) {
    const config: PrefetcherConfig = { archive: options.archive, dataDirectory, queueDirectory, prefetch, segmentSize: result.bytes, parallel: Math.min(4, prefetch), idleMs: 60_000 };
    startDetached('wal-prefetch-main', config, join(queueDirectory, LOG), dataDirectory);
  }
  return result;
}

async function recoveryEnded(dataDirectory: string): Promise<boolean> {
  for (const name of ['recovery.signal', 'standby.signal', 'recovery.conf']) {
    try {
      await stat(join(dataDirectory, name));
      return false;
    } catch {
      // not there
    }
  }
  return true;
}

/**
 * The prefetcher's loop: keeps the `prefetch` segments after the last one asked for in the queue
 * (downloaded in parallel, decompressed, written whole), drops older ones, and clears the queue
 * and exits when recovery has ended or nobody asked for `idleMs`.
 * @returns false when another prefetcher holds the lock.
 */
export async function runWalPrefetcher(config: PrefetcherConfig, log: (line: string) => void = () => undefined): Promise<boolean> {
  const queue = config.queueDirectory;
  if (!(await takeSpoolLock(join(queue, LOCK)))) return false;
  try {
    const archive = await openWritableWalArchive(config.archive);
    let lastWanted = '';
    let lastRequestAt = Date.now();
    const missingUntil = new Map<string, number>(); // not in the archive yet: look again later
    for (;;) {
      if (await recoveryEnded(config.dataDirectory)) {
        log('recovery has ended: clearing the queue');
        break;
      }
      const wanted = (await readFile(join(queue, WANTED), 'utf8').catch(() => '')).trim();
      if (wanted !== lastWanted) {
        lastWanted = wanted;
        lastRequestAt = Date.now();
      } else if (Date.now() - lastRequestAt > config.idleMs) {
        log(`no request for ${Math.round(config.idleMs / 1000)} s: clearing the queue`);
        break;
      }
      if (!SEGMENT.test(wanted)) {
        await sleep(100);
        continue;
      }
      const window: string[] = [];
      for (let name = nextSegmentName(wanted, config.segmentSize); window.length < config.prefetch; name = nextSegmentName(name, config.segmentSize)) window.push(name);
      const keep = new Set([...window, wanted]);
      const present = new Set<string>();
      for (const name of await readdir(queue)) {
        if (!SEGMENT.test(name)) continue;
        if (keep.has(name)) present.add(name);
        else await rm(join(queue, name), { force: true }); // passed by, or another timeline
      }
      const todo = window.filter((name) => !present.has(name) && (missingUntil.get(name) ?? 0) < Date.now()).slice(0, config.parallel);
      if (todo.length === 0) {
        await sleep(50);
        continue;
      }
      await Promise.all(
        todo.map(async (name) => {
          try {
            const found = await findStoredWal(archive, name);
            if (found === undefined) {
              missingUntil.set(name, Date.now() + 1000);
              return;
            }
            await writeWholeFile(join(queue, name), await decompressWal(found.body, found.compression, found.storedAs));
            missingUntil.delete(name);
          } catch (error) {
            log(`${name}: ${(error as Error).message}`);
            missingUntil.set(name, Date.now() + 1000); // archive-get fetches it itself meanwhile
          }
        }),
      );
    }
    for (const name of await readdir(queue)) if (SEGMENT.test(name) || name.startsWith('.') || name === WANTED) await rm(join(queue, name), { force: true });
    return true;
  } finally {
    await rm(join(queue, LOCK), { force: true });
  }
}
