// archive-get --prefetch: restore_command from a remote archive spends most of its time waiting
// on the network, one segment at a time. A detached prefetcher keeps the next segments, already
// decompressed, in a bounded local queue; archive-get takes its segment from there (a rename) when
// it is queued (which loads neither the archive adapters nor compression: restore_command starts
// Node once per file, and a hit should cost little more than that). The queue is cleared when recovery ends (no recovery.signal, standby.signal or
// recovery.conf left in the data directory) or when nobody has asked for a while.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BackupError } from '../errors.js';
import type { ArchiveGetResult } from '../restore/archive-get.js';
import { assertArchivableName, writeWholeFile } from '../restore/archive-files.js';
import { sleep } from '../util/abort.js';
import { readFileIfExists } from '../util/durable-fs.js';
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
/** `<segment>.answer`: the prefetcher's `<nonce> missing|failed` for a segment archive-get asked it for. */
const ANSWER = '.answer';
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

/** Takes `walFile` from the queue into `target` (a rename; a copy across file systems), or `undefined` when it is not queued. */
async function takeQueued(queued: string, walFile: string, target: string): Promise<ArchiveGetPrefetchResult | undefined> {
  try {
    await rename(queued, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EXDEV') throw error;
    const body = await readFile(queued).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    if (body === undefined) return undefined;
    await writeWholeFile(target, body);
    await rm(queued, { force: true });
  }
  return { walFile, storedAs: walFile, destination: target, bytes: (await stat(target)).size, fromQueue: true };
}

/** A request as archive-get writes it to `wanted`: the segment, a nonce, and whether the caller still needs it fetched. */
function request(walFile: string, nonce: string, need: boolean): Buffer {
  return Buffer.from(`${walFile} ${nonce} ${need ? 'need' : 'have'}\n`);
}

/** How long a miss waits for a running prefetcher's answer before fetching itself, ms. */
const ANSWER_WAIT_MS = 15_000;

/**
 * restore_command with prefetch: takes `walFile` from the local queue when the prefetcher has it
 * (a rename: whole or nothing). When it is not queued and a prefetcher runs, asks the prefetcher
 * for it and waits for its answer (the file, or "not in the archive" as checked after this
 * request), so a miss costs one download and no AWS SDK start-up here; with no prefetcher (the
 * first call), or no answer within 15 s, it fetches the file itself as {@link archiveGet} does and
 * starts a prefetcher. The prefetcher then fills the queue with the segments after it. History,
 * `.partial` and `.backup` files are always fetched directly.
 * @throws BackupError `WAL_NOT_FOUND`, `ARCHIVE_FAILED`, as {@link archiveGet}.
 */
export async function archiveGetPrefetched(walFile: string, destination: string, options: ArchiveGetPrefetchOptions): Promise<ArchiveGetPrefetchResult> {
  assertArchivableName(walFile);
  const { dataDirectory, queueDirectory, prefetch } = resolveOptions(options);
  const target = resolve(dataDirectory, destination);
  const fetchNow = async (): Promise<ArchiveGetPrefetchResult> => ({ ...(await (await import('../restore/archive-get.js')).archiveGet(walFile, target, options)), fromQueue: false });
  if (!SEGMENT.test(walFile)) return fetchNow();
  await mkdir(queueDirectory, { recursive: true, mode: 0o700 });
  const queued = join(queueDirectory, walFile);
  const nonce = randomBytes(6).toString('hex');
  const wanted = join(queueDirectory, WANTED);
  let result = await takeQueued(queued, walFile, target);
  // Tell the prefetcher where recovery is: it drops what is older and starts on what is next.
  await writeWholeFile(wanted, request(walFile, nonce, result === undefined));
  const lock = join(queueDirectory, LOCK);
  if (result === undefined && isRunning(await readSpoolLock(lock))) {
    const answer = join(queueDirectory, walFile + ANSWER);
    const deadline = Date.now() + ANSWER_WAIT_MS;
    for (let pollMs = 2; result === undefined && Date.now() < deadline; pollMs = Math.min(pollMs * 2, 20)) {
      result = await takeQueued(queued, walFile, target);
      if (result) break;
      const said = (await readFileIfExists(answer))?.toString('utf8').split(' ');
      if (said?.[0] === nonce) {
        await rm(answer, { force: true });
        if (said[1] === 'missing') {
          throw new BackupError('WAL_NOT_FOUND', `${walFile} is not in the WAL archive ${options.archive}.`, { details: { walFile, archive: options.archive } });
        }
        break; // the prefetcher could not fetch it: fetch it here, which reports why
      }
      if (!isRunning(await readSpoolLock(lock))) break;
      await sleep(pollMs);
    }
  }
  result ??= await fetchNow();
  if (isSegmentSize(result.bytes) && !isRunning(await readSpoolLock(lock))) {
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
 * (downloaded `parallel` at a time, decompressed, written whole), drops older ones, fetches first a
 * segment archive-get is waiting for (answering `missing` or `failed` when it cannot queue it, from
 * a look begun after the request), and clears the queue and exits when recovery has ended or
 * nobody asked for `idleMs`.
 * @returns false when another prefetcher holds the lock.
 */
export async function runWalPrefetcher(config: PrefetcherConfig, log: (line: string) => void = () => undefined): Promise<boolean> {
  const queue = config.queueDirectory;
  if (!(await takeSpoolLock(join(queue, LOCK)))) return false;
  try {
    const [{ openWritableWalArchive }, { findStoredWal }, { decompressWal }] = await Promise.all([import('../restore/wal-archive.js'), import('../restore/archive-get.js'), import('../restore/wal-compression.js')]);
    const archive = await openWritableWalArchive(config.archive);
    let lastWanted = '';
    let lastRequestAt = Date.now();
    const missingUntil = new Map<string, number>(); // not in the archive yet: look again later
    const inFlight = new Map<string, Promise<void>>();
    // The segment archive-get is waiting for (it was not queued), and when we read that request.
    let need: { name: string; nonce: string; seenAt: number } | undefined;
    const fetch = (name: string): void => {
      const startedAt = Date.now();
      const job = (async () => {
        let outcome: 'stored' | 'missing' | 'failed';
        try {
          const found = await findStoredWal(archive, name);
          if (found === undefined) outcome = 'missing';
          else {
            await writeWholeFile(join(queue, name), await decompressWal(found.body, found.compression, found.storedAs));
            outcome = 'stored';
          }
        } catch (error) {
          log(`${name}: ${(error as Error).message}`);
          outcome = 'failed';
        }
        if (outcome === 'stored') missingUntil.delete(name);
        else missingUntil.set(name, Date.now() + 1000);
        if (need?.name !== name) return;
        // "Not there" answers a request only from a look that began after it; else look again.
        if (outcome === 'stored') need = undefined;
        else if (startedAt >= need.seenAt) {
          await writeWholeFile(join(queue, name + ANSWER), Buffer.from(`${need.nonce} ${outcome}`)).catch(() => undefined);
          need = undefined;
        }
      })().finally(() => inFlight.delete(name));
      inFlight.set(name, job);
    };
    for (;;) {
      if (await recoveryEnded(config.dataDirectory)) {
        log('recovery has ended: clearing the queue');
        break;
      }
      const line = (await readFile(join(queue, WANTED), 'utf8').catch(() => '')).trim();
      if (line !== lastWanted) {
        lastWanted = line;
        lastRequestAt = Date.now();
        const [name = '', nonce = '', kind] = line.split(' ');
        need = kind === 'need' && SEGMENT.test(name) && nonce !== '' ? { name, nonce, seenAt: Date.now() } : undefined;
      } else if (Date.now() - lastRequestAt > config.idleMs) {
        log(`no request for ${Math.round(config.idleMs / 1000)} s: clearing the queue`);
        break;
      }
      const wanted = lastWanted.split(' ')[0] ?? '';
      if (!SEGMENT.test(wanted)) {
        await sleep(100);
        continue;
      }
      const window: string[] = [];
      for (let name = nextSegmentName(wanted, config.segmentSize); window.length < config.prefetch; name = nextSegmentName(name, config.segmentSize)) window.push(name);
      const keep = new Set([...window, wanted]);
      const present = new Set<string>();
      for (const name of await readdir(queue)) {
        const segment = SEGMENT.test(name) ? name : name.endsWith(ANSWER) ? name.slice(0, -ANSWER.length) : undefined;
        if (segment === undefined) continue;
        if (keep.has(segment)) {
          if (segment === name) present.add(name);
        } else {
          await rm(join(queue, name), { force: true }); // passed by, or another timeline
        }
      }
      // What archive-get waits for goes first, beyond `parallel` if need be; queued already, it is
      // archive-get's at its next look.
      if (need && present.has(need.name)) need = undefined;
      if (need && !inFlight.has(need.name)) fetch(need.name);
      for (const name of window) {
        if (inFlight.size >= config.parallel) break;
        if (!present.has(name) && !inFlight.has(name) && (missingUntil.get(name) ?? 0) < Date.now()) fetch(name);
      }
      await (inFlight.size > 0 ? Promise.race([...inFlight.values(), sleep(20)]) : sleep(20));
    }
    await Promise.all(inFlight.values());
    for (const name of await readdir(queue)) if (SEGMENT.test(name) || name.endsWith(ANSWER) || name.startsWith('.') || name === WANTED) await rm(join(queue, name), { force: true });
    return true;
  } finally {
    await rm(join(queue, LOCK), { force: true });
  }
}
