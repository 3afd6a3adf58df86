// archive-get --prefetch: restore_command from a remote archive spends most of its time waiting
// on the network, one segment at a time. A detached prefetcher keeps the next segments, already
// decompressed, in a bounded local queue; archive-get takes its segment from there (a rename) when
// it is queued (which loads neither the archive adapters nor compression: restore_command starts
// Node once per file, and a hit should cost little more than that). The queue is cleared when recovery ends (no recovery.signal, standby.signal or
// recovery.conf left in the data directory) or when nobody has asked for a while.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BackupError } from '../errors.js';
import type { ArchiveGetResult } from '../restore/archive-get.js';
import { encryptionFrom, type EncryptionSettings } from '../crypto/keyring.js';
import { assertArchivableName, writeWholeFile } from '../restore/archive-files.js';
import { sleep } from '../util/abort.js';
import { readFileIfExists } from '../util/durable-fs.js';
import { parseBackupLabel } from '../summary/backup-label.js';
import { timelineHistoryFileName } from '../summary/wal-file.js';
import type { CallOptions } from '../sinks/contract.js';
import { isRunning } from './state/process.js';
import { FetchPacer } from './fetch-pacer.js';
import { readSpoolLock, startDetached, takeSpoolLock } from './spool-process.js';

/** Options of {@link archiveGetPrefetched}. */
export interface ArchiveGetPrefetchOptions extends CallOptions, EncryptionSettings {
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
export interface PrefetcherConfig extends EncryptionSettings {
  readonly archive: string;
  readonly dataDirectory: string;
  readonly queueDirectory: string;
  readonly prefetch: number;
  /** Bytes per segment, when known; else learnt from the first segment fetched. */
  readonly segmentSize?: number;
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
/**
 * `<file>.missing`: a look at the archive that began at `t` found nothing; its mtime is `t` plus
 * the wait before the next look plus {@link MISS_MARGIN_MS}, until when restore_command's shell
 * part answers "no such file" from it.
 */
const MISSING = '.missing';
/** Longer than a look takes on a healthy store, so the answer does not lapse before the next look renews it. */
const MISS_MARGIN_MS = 1000;
/**
 * How long after a look that found nothing (or failed) the same name is looked at again: 1 s, then
 * 2 s and 4 s, then every 5 s while it stays missing. A standby at the end of the archive costs a
 * few requests every 5 s instead of several a second, and a segment archived meanwhile is seen
 * within 5 s: PostgreSQL's own wal_retrieve_retry_interval (5 s by default) between its asks.
 */
function lookAgainAfterMs(misses: number): number {
  return Math.min(5000, 1000 * 2 ** Math.max(0, misses - 1));
}
/**
 * `<file>.fetching`: a look and download began at `t`; its mtime is `t + FETCH_VALID_MS`, until
 * when restore_command's shell part waits for the file rather than start archive-get.
 */
const FETCHING = '.fetching';
/** Well over a 16 MiB download from a healthy store; a longer one falls through to archive-get, which waits for it too. */
const FETCH_VALID_MS = 5000;
const SEGMENT = /^[0-9A-F]{24}$/;
/** What archive-get asks for: a segment, `.partial`, `.backup` or `.history` file (assertArchivableName's names). */
const WAL_NAME = /^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

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

/**
 * A request as archive-get writes it to `wanted`: the file, a nonce, whether the caller waits for
 * the prefetcher to fetch it, and (once known) the segment's size, which the prefetcher needs for
 * the names after it.
 */
function request(walFile: string, nonce: string, need: boolean, segmentSize?: number): Buffer {
  return Buffer.from(`${walFile} ${nonce} ${need ? 'need' : 'have'}${segmentSize === undefined ? '' : ` ${segmentSize}`}\n`);
}

/** How long a miss waits for a running prefetcher's answer before fetching itself, ms. */
const ANSWER_WAIT_MS = 15_000;

/**
 * restore_command with prefetch: takes `walFile` from the local queue when the prefetcher has it
 * (a rename: whole or nothing). When it is not queued and a prefetcher runs, asks the prefetcher
 * for it and waits for its answer (the file, or "not in the archive" as checked after this
 * request), so a miss costs one download and no AWS SDK start-up here; this holds for history,
 * `.partial` and `.backup` files too. With no prefetcher (the first call) it starts one, then
 * fetches the file itself as {@link archiveGet} does (also when no answer comes within 15 s). The
 * prefetcher fills the queue with the segments after the last one asked for or taken.
 * @throws BackupError `WAL_NOT_FOUND`, `ARCHIVE_FAILED`, as {@link archiveGet}.
 */
export async function archiveGetPrefetched(walFile: string, destination: string, options: ArchiveGetPrefetchOptions): Promise<ArchiveGetPrefetchResult> {
  assertArchivableName(walFile);
  const { dataDirectory, queueDirectory, prefetch } = resolveOptions(options);
  const target = resolve(dataDirectory, destination);
  await mkdir(queueDirectory, { recursive: true, mode: 0o700 });
  const queued = join(queueDirectory, walFile);
  const nonce = randomBytes(6).toString('hex');
  const lock = join(queueDirectory, LOCK);
  let result = await takeQueued(queued, walFile, target);
  const prefetcherRuns = isRunning(await readSpoolLock(lock));
  // Tell the prefetcher where recovery is (it drops what is older and starts on what is next) and
  // whether we wait for it to fetch this file.
  await writeWholeFile(join(queueDirectory, WANTED), request(walFile, nonce, result === undefined && prefetcherRuns));
  if (result !== undefined) return result;
  if (prefetcherRuns) {
    const answer = join(queueDirectory, walFile + ANSWER);
    const deadline = Date.now() + ANSWER_WAIT_MS;
    for (let pollMs = 2; Date.now() < deadline; pollMs = Math.min(pollMs * 2, 20)) {
      result = await takeQueued(queued, walFile, target);
      if (result) return result;
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
  // Started before this fetch, so that its start-up (Node, the archive client) overlaps ours.
  if (!isRunning(await readSpoolLock(lock))) {
    const config: PrefetcherConfig = {
      archive: options.archive,
      dataDirectory,
      queueDirectory,
      prefetch,
      parallel: Math.min(4, prefetch),
      idleMs: 60_000,
      ...(options.encryptionKeyFiles !== undefined && options.encryptionKeyFiles.length > 0 ? { encryptionKeyFiles: options.encryptionKeyFiles.map((f) => resolve(f)) } : {}),
      ...(options.requireEncrypted === true ? { requireEncrypted: true } : {}),
    };
    startDetached('wal-prefetch-main', config, join(queueDirectory, LOG), dataDirectory);
  }
  const encryption = await encryptionFrom(options);
  const fetched = await (await import('../restore/archive-get.js')).archiveGet(walFile, target, { ...options, ...(encryption !== undefined ? { encryption } : {}) });
  if (SEGMENT.test(walFile) && isSegmentSize(fetched.bytes)) await writeWholeFile(join(queueDirectory, WANTED), request(walFile, nonce, false, fetched.bytes));
  return { ...fetched, fromQueue: false };
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

/** The later of two segment names (timelines only grow during recovery, and a name orders by timeline, then position). */
const later = (a: string | undefined, b: string): string => (a === undefined || b > a ? b : a);

/**
 * The prefetcher's loop: keeps the `prefetch` segments after the last one recovery asked for or
 * took from the queue (downloaded `parallel` at a time, decompressed, fsynced, written whole), drops
 * older ones, fetches first a file archive-get is waiting for (answering `missing` or `failed` when
 * it cannot queue it, from a look begun after the request), and clears the queue and exits when
 * recovery has ended or nobody asked for `idleMs`.
 *
 * Recovery takes queued segments without asking (restore_command's shell part renames
 * `pg_wal/pgsb-prefetch/%f` when it is there): a queued segment that is gone, and that this
 * prefetcher did not remove, was taken, and moves the window like a request. A look that finds
 * nothing leaves `<file>.missing`, which the shell part answers "no such file" from until a second
 * after the next look is due; misses are looked at again after 1, 2, 4, then every 5 s
 * ({@link lookAgainAfterMs}), and of the window only up to its first miss (WAL is archived in
 * order: what follows a missing segment is looked at once it is found), so at the end of the
 * archive (a standby waiting for its primary) the shell answers while this process lives. The
 * history files recovery asks for when it ends (the timeline's and the next one's) are looked at
 * like the window, and at the end of the archive the last segment is queued once more, since
 * recovery reads it again as it ends. While a file is looked at and downloaded, `<file>.fetching`
 * (valid 5 s) makes the shell wait for the outcome instead of starting archive-get. Before recovery
 * has asked for a segment, the window begins at backup_label's start segment; before a segment's
 * size is known, names are guessed for 16 MiB.
 * @returns false when another prefetcher holds the lock.
 */
export async function runWalPrefetcher(config: PrefetcherConfig, log: (line: string) => void = () => undefined): Promise<boolean> {
  const queue = config.queueDirectory;
  if (!(await takeSpoolLock(join(queue, LOCK)))) return false;
  try {
    const [{ openWritableWalArchive }, { findStoredWal }, { decompressWal }] = await Promise.all([import('../restore/wal-archive.js'), import('../restore/archive-get.js'), import('../restore/wal-compression.js')]);
    const encryption = await encryptionFrom(config);
    const archive = await openWritableWalArchive(config.archive, encryption !== undefined ? { encryption } : {});
    // What a prefetcher that died left is fetched again rather than trusted.
    await clearQueue(queue, false);
    let segmentSize = config.segmentSize;
    // Recovery from a backup begins at backup_label's start segment: fetched before it is asked for.
    const startsAt = await labelStartSegment(config.dataDirectory);
    let lastWanted = '';
    let lastRequestAt = Date.now();
    /** The last segment recovery asked for or took. */
    let position: string | undefined;
    /** The last segment queued again at the end of the archive (once per position). */
    let refetched: string | undefined;
    /** History files recovery took: not queued again. */
    const takenOnce = new Set<string>();
    /** Queued by us and not removed by us: gone from the directory means taken. */
    const queued = new Set<string>();
    const counts = { stored: 0, taken: 0, asked: 0 };
    /** Names not in the archive (or not readable) at their last look: how many looks in a row, and when to look again. */
    const misses = new Map<string, { count: number; lookAgainAt: number }>();
    const inFlight = new Map<string, Promise<void>>();
    const pacer = new FetchPacer(config.parallel);
    // The file archive-get is waiting for (it was not queued), and when we read that request.
    let need: { name: string; nonce: string; seenAt: number } | undefined;
    const remove = async (name: string): Promise<void> => {
      queued.delete(name);
      await rm(join(queue, name), { force: true });
    };
    const fetch = (name: string): void => {
      const startedAt = Date.now();
      pacer.started(startedAt);
      const missCount = (misses.get(name)?.count ?? 0) + 1;
      const job = (async () => {
        let outcome: 'stored' | 'missing' | 'failed';
        try {
          // The shell waits for what is on its way; each outcome below is in place before the marker goes.
          await markUntil(queue, name + FETCHING, startedAt + FETCH_VALID_MS).catch((e: Error) => log(`${name}${FETCHING}: ${e.message}`));
          const found = await findStoredWal(archive, name);
          // Before the download: from now on the shell's known-miss answer is gone.
          if (found !== undefined) await rm(join(queue, name + MISSING), { force: true });
          if (found === undefined) {
            outcome = 'missing';
            await markUntil(queue, name + MISSING, startedAt + lookAgainAfterMs(missCount) + MISS_MARGIN_MS).catch((e: Error) => log(`${name}${MISSING}: ${e.message}`));
          } else {
            const body = await decompressWal(found.body, found.compression, found.storedAs);
            if (segmentSize === undefined && SEGMENT.test(name) && isSegmentSize(body.length)) segmentSize = body.length;
            await writeWholeFile(join(queue, name), body, { fsync: true });
            pacer.downloaded(Date.now() - startedAt);
            queued.add(name);
            counts.stored += 1;
            outcome = 'stored';
          }
        } catch (error) {
          log(`${name}: ${(error as Error).message}`);
          outcome = 'failed';
          // A store in trouble says nothing about the file: archive-get looks, and reports why.
          await rm(join(queue, name + MISSING), { force: true }).catch(() => undefined);
        }
        await rm(join(queue, name + FETCHING), { force: true }).catch(() => undefined);
        if (outcome === 'stored') misses.delete(name);
        else misses.set(name, { count: missCount, lookAgainAt: Date.now() + lookAgainAfterMs(missCount) });
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
      // Taken: queued before this listing began and not in it (a fetch may queue more meanwhile).
      const queuedBefore = [...queued];
      const listing = await readdir(queue);
      const present = new Set(listing.filter((name) => WAL_NAME.test(name)));
      let taken: string | undefined;
      for (const name of queuedBefore) {
        if (present.has(name) || !queued.delete(name)) continue;
        counts.taken += 1;
        if (SEGMENT.test(name)) taken = later(taken, name);
        else takenOnce.add(name);
      }
      if (line !== lastWanted) {
        lastWanted = line;
        lastRequestAt = Date.now();
        const [name = '', nonce = '', kind, size] = line.split(' ');
        if (segmentSize === undefined && isSegmentSize(Number(size))) segmentSize = Number(size);
        need = kind === 'need' && WAL_NAME.test(name) && nonce !== '' ? { name, nonce, seenAt: Date.now() } : undefined;
        if (need) counts.asked += 1;
        if (SEGMENT.test(name)) position = taken === undefined ? name : later(taken, name);
        else if (taken !== undefined) position = taken;
      } else if (taken !== undefined) {
        lastRequestAt = Date.now();
        position = taken;
      } else if (Date.now() - lastRequestAt > config.idleMs) {
        log(`no request for ${Math.round(config.idleMs / 1000)} s: clearing the queue`);
        break;
      }
      // Until the size is known, names are guessed for the default 16 MiB: they differ only where a
      // larger or smaller size crosses a log file, and a wrong name costs a look, never a wrong file.
      const size = segmentSize ?? DEFAULT_SEGMENT_SIZE;
      const window: string[] = position === undefined && startsAt !== undefined ? [startsAt] : [];
      const from = position ?? window[0];
      if (from !== undefined) {
        for (let name = nextSegmentName(from, size); window.length < config.prefetch; name = nextSegmentName(name, size)) window.push(name);
      }
      const extras = position === undefined ? [] : endOfRecoveryFiles(position).filter((name) => !takenOnce.has(name));
      // At the end of the archive (the next segment known missing) recovery asks for its last one
      // again when it ends (to begin the new timeline): queued once more, that is a shell mv too.
      if (position !== undefined && window[0] !== undefined && misses.has(window[0]) && refetched !== position && !present.has(position) && !inFlight.has(position)) {
        refetched = position;
        extras.push(position);
      }
      // Kept: the window, the end-of-recovery files, and what the last request named (its file or answer may still be on its way to archive-get).
      const keep = new Set([...window, ...extras, ...(position === undefined ? [] : [position]), lastWanted.split(' ')[0] ?? '']);
      // A file queued since the listing is not in it: it is judged at the next turn.
      for (const name of listing) {
        const file = walFileOf(name);
        if (WAL_NAME.test(file) && !keep.has(file) && !inFlight.has(file)) await remove(name); // passed by, or another timeline
      }
      // What archive-get waits for goes first, beyond `parallel` if need be; queued already, it is
      // archive-get's at its next look.
      if (need && present.has(need.name)) need = undefined;
      if (need && !inFlight.has(need.name)) fetch(need.name);
      // In order (the nearest first), spaced so that they land in turn (FetchPacer), the window
      // up to its first miss: the segments after a missing one are archived after it.
      const firstMiss = window.findIndex((name) => misses.has(name));
      for (const name of [...(firstMiss < 0 ? window : window.slice(0, firstMiss + 1)), ...extras]) {
        if (inFlight.size >= config.parallel || !pacer.mayStart(Date.now(), inFlight.size)) break;
        if (!present.has(name) && !inFlight.has(name) && (misses.get(name)?.lookAgainAt ?? 0) < Date.now()) fetch(name);
      }
      await (inFlight.size > 0 ? Promise.race([...inFlight.values(), sleep(20)]) : sleep(20));
    }
    await Promise.all(inFlight.values());
    log(`${counts.stored} files queued, ${counts.taken} taken from the queue, ${counts.asked} asked for by archive-get`);
    await clearQueue(queue, true);
    return true;
  } finally {
    await rm(join(queue, LOCK), { force: true });
  }
}

/**
 * The history files recovery on `segment`'s timeline T asks for when it ends: T+1's (is the new
 * timeline free?) and T's (copied into the new timeline's history; asked for on timeline 1 too).
 * Looked at like the window, so the shell answers them, mostly "no such file", from the queue.
 */
function endOfRecoveryFiles(segment: string): string[] {
  const timeline = parseInt(segment.slice(0, 8), 16);
  return (timeline < 0xffffffff ? [timeline, timeline + 1] : [timeline]).map(timelineHistoryFileName);
}

/** The default WAL segment size: the window's names before the real size is learnt. */
const DEFAULT_SEGMENT_SIZE = 16 << 20;

/** backup_label's start segment, if the data directory has a backup_label that parses (only a hint: fetched early, never trusted). */
async function labelStartSegment(dataDirectory: string): Promise<string | undefined> {
  try {
    const label = await readFileIfExists(join(dataDirectory, 'backup_label'));
    return label === undefined ? undefined : parseBackupLabel(label.toString('utf8')).startWalFile;
  } catch {
    return undefined;
  }
}

/** The WAL file a queue entry is about: itself, or the file an `.answer`, `.missing` or `.fetching` is about. */
const walFileOf = (name: string): string => name.replace(/\.(?:answer|missing|fetching)$/, '');

/** Leaves the marker `name` valid until `until` (its mtime), put in place whole with that mtime: the shell never sees it younger. */
async function markUntil(queue: string, name: string, until: number): Promise<void> {
  if (until <= Date.now()) return; // the look took longer than the answer may live
  const temp = join(queue, `.${name}.${randomBytes(4).toString('hex')}`);
  await writeFile(temp, '');
  await utimes(temp, until / 1000, until / 1000);
  await rename(temp, join(queue, name));
}

/** Removes the queued files and answers (and, at exit, the request and temp files too). */
async function clearQueue(queue: string, all: boolean): Promise<void> {
  for (const name of await readdir(queue)) {
    if (WAL_NAME.test(walFileOf(name)) || (all && (name.startsWith('.') || name === WANTED))) await rm(join(queue, name), { force: true });
  }
}
