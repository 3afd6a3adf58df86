// Bench row 12 (issue 19): what client-side encryption costs archive-push, encrypted vs plain, side
// by side in one run on the same prepared 16 MiB segments (half random pages, half zero pages: a
// segment switched half-way; AES-GCM's cost does not depend on the bytes, gzip's does):
//  - the CLI per segment, sync (one Node start per segment, as archive_command runs it), to a
//    directory and to s3rver;
//  - the CLI with --async, draining a backlog of .ready segments the way PostgreSQL's archiver does
//    (one command at a time, in order, .ready renamed to .done after each exit 0; the pusher it
//    starts pushes 4 at once ahead): the drain time per segment, to a directory and to s3rver;
//  - archivePush in-process, the archive opened once (no Node start): to a directory (fsync
//    included), with gzip, and to an archive in memory (the cipher cost alone, no I/O);
//  - archiveGet in-process from s3rver (the read side: GET, the ETag's MD5 for plain objects, the
//    tags for sealed ones, write + fsync of the destination).
// Pairs alternate which side goes first. The note of the in-memory line gives seal() alone and
// Node's bare AES-256-GCM over one segment. Uses the compiled CLI (dist/): what users run.
// Alone: `PGSB_BENCH_ONLY=12 npm run bench`, or `npm run build && node --import tsx bench/rows/12-archive-encryption.ts`.
import { createCipheriv, randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { archiveGet, archivePush, EncryptedWalArchive, FilesystemWalArchive, isSealed, Keyring, openWritableWalArchive, readKeyFile, seal, writeNewKey } from '../../src/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import type { ArchivePushResult, WalArchive, WritableWalArchive } from '../../src/index.js';
import { run } from '../../test/harness/index.js';
import { S3RVER_CREDENTIALS, TestS3Server } from '../../test/harness/s3-server.js';
import { s3ArchiveUrl } from '../../test/harness/wal-archive.js';
import { CLI_MAIN, median, type BenchContext, type BenchRow } from '../harness.js';

const SEGMENT_BYTES = 16 * 2 ** 20;
/** Pairs of single pushes (CLI sync to a directory; in-process lines). */
const PAIRS = Number(process.env.PGSB_BENCH_ENCRYPTION_PAIRS ?? 12);
/** Pairs of --async backlog drains to a directory. */
const ROUNDS = Number(process.env.PGSB_BENCH_ENCRYPTION_ROUNDS ?? 4);
/** Segments per --async backlog (and prepared segments in all). */
const BACKLOG = Number(process.env.PGSB_BENCH_ENCRYPTION_BACKLOG ?? 12);
/** PGSB_BENCH_ENCRYPTION_S3=0 leaves out the s3rver lines. */
const WITH_S3 = process.env.PGSB_BENCH_ENCRYPTION_S3 !== '0';
/** Pairs for the s3rver lines (sync pushes; async drains), fewer: s3rver is slow with 16 MiB objects on 2 cores. */
const S3_PAIRS = Math.max(2, Math.round(PAIRS / 2));
const S3_ROUNDS = Math.max(2, ROUNDS - 1);
const S3_BACKLOG = Math.max(4, Math.round(BACKLOG / 2));

type Side = 'plain' | 'encrypted';

const segmentName = (i: number): string => `00000001000000000000${(i + 1).toString(16).toUpperCase().padStart(4, '0')}`;

/** `count` segments in `dir`: the first half of the pages random, the rest zero, each segment its own. */
async function prepareSegments(dir: string, count: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const body = Buffer.alloc(SEGMENT_BYTES);
    randomBytes(SEGMENT_BYTES / 2).copy(body, 0);
    names.push(segmentName(i));
    await writeFile(join(dir, names[i]!), body);
  }
  return names;
}

/** An archive the CLI is given as `url`, and the same archive as stored bytes (`raw`: no decryption), for the checks. */
interface Target {
  readonly url: string;
  readonly raw: WalArchive;
}

/** Fails unless the archive stored `name` sealed (encrypted) or as plaintext (plain). */
async function checkStored(target: Target, name: string, side: Side): Promise<void> {
  const raw = await target.raw.readFile?.(name);
  if (raw === undefined) throw new Error(`bench row 12: ${target.url} has no ${name}`);
  if (isSealed(raw) !== (side === 'encrypted')) throw new Error(`bench row 12: ${name} in ${target.url} is ${isSealed(raw) ? 'sealed' : 'plaintext'}, expected ${side}`);
}

/** Runs `a` and `b` `pairs` times, alternating which goes first; their millisecond figures. */
async function interleaved(pairs: number, measure: (side: Side, i: number) => Promise<number>): Promise<Record<Side, number[]>> {
  const out: Record<Side, number[]> = { plain: [], encrypted: [] };
  for (let i = 0; i < pairs; i++) {
    const order: Side[] = i % 2 === 0 ? ['plain', 'encrypted'] : ['encrypted', 'plain'];
    for (const side of order) out[side].push(await measure(side, i));
  }
  return out;
}

const spread = (xs: number[]): string => `${median(xs).toFixed(1)} ms (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;

/** The row's line: encrypted (ours) vs plain (baseline), target 1.10x. */
function line(name: string, r: Record<Side, number[]>, note: string): BenchRow {
  return { name: `12. ${name}: encrypted vs plain`, unit: 'ms', ours: r.encrypted, baseline: r.plain, target: 1.1, note: `+${(median(r.encrypted) - median(r.plain)).toFixed(1)} ms per segment; ${note}` };
}

/** A WAL archive in memory (no I/O), beneath an EncryptedWalArchive: what is left is reading the segment, the write-once check and the cipher. */
class MemoryWalArchive implements WalArchive {
  readonly name = 'memory';
  readonly files = new Map<string, Buffer>();
  async listFileNames(): Promise<string[]> {
    return [...this.files.keys()];
  }
  async readFile(name: string): Promise<Buffer | undefined> {
    return this.files.get(name);
  }
  async createFile(name: string, body: Buffer): Promise<boolean> {
    if (this.files.has(name)) return false;
    this.files.set(name, body);
    return true;
  }
  async deleteFile(name: string): Promise<void> {
    this.files.delete(name);
  }
}

interface Setup {
  readonly work: string;
  readonly env: NodeJS.ProcessEnv;
  readonly keyFile: string;
  readonly source: string;
  readonly segments: string[];
}

/** The CLI's archive-push of `path`, from `cwd`; ms. */
async function cliPush(setup: Setup, side: Side, path: string, archive: string, extra: string[], cwd: string): Promise<number> {
  const args = [CLI_MAIN, 'archive-push', path, '--archive', archive, ...extra, ...(side === 'encrypted' ? ['--encryption-key-file', setup.keyFile] : [])];
  const t = performance.now();
  const r = await run(process.execPath, args, { env: setup.env, cwd });
  const ms = performance.now() - t;
  if (r.code !== 0) throw new Error(`bench row 12: archive-push ${args.slice(2).join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return ms;
}

/** Sync CLI pushes: one segment per push, the stored file removed after (not timed), so names can repeat. */
async function syncPairs(setup: Setup, pairs: number, targetFor: (side: Side, i: number) => Promise<Target>): Promise<Record<Side, number[]>> {
  return interleaved(pairs, async (side, i) => {
    const name = setup.segments[i % setup.segments.length]!;
    const target = await targetFor(side, i);
    const ms = await cliPush(setup, side, join(setup.source, name), target.url, [], setup.work);
    await checkStored(target, name, side);
    await target.raw.deleteFile?.(name);
    return ms;
  });
}

/**
 * One --async backlog drain: a data directory whose pg_wal holds `count` segments (hard links to
 * the prepared ones), all .ready; the CLI is run for each in order, from the data directory, and its
 * .ready renamed to .done after it exits 0, as PostgreSQL's archiver does. The time per segment, ms;
 * then waits for the pusher to exit (idle 2 s) so that rounds do not overlap.
 */
async function asyncDrain(setup: Setup, side: Side, count: number, target: Target): Promise<number> {
  const pgdata = await mkdtemp(join(setup.work, 'pgdata-'));
  const status = join(pgdata, 'pg_wal', 'archive_status');
  await mkdir(status, { recursive: true });
  const names = setup.segments.slice(0, count);
  for (const name of names) {
    await link(join(setup.source, name), join(pgdata, 'pg_wal', name));
    await writeFile(join(status, `${name}.ready`), '');
  }
  const t = performance.now();
  for (const name of names) {
    await cliPush(setup, side, join('pg_wal', name), target.url, ['--async'], pgdata);
    await rename(join(status, `${name}.ready`), join(status, `${name}.done`));
  }
  const ms = (performance.now() - t) / count;
  const lock = join(pgdata, 'pg_wal', 'pgsb-archive-push', 'pusher.lock');
  for (let i = 0; i < 300 && (await stat(lock).catch(() => undefined)); i++) await delay(50);
  const stored = await target.raw.listFileNames();
  if (names.some((n) => !stored.includes(n))) throw new Error(`bench row 12: the --async drain to ${target.url} did not store every segment (${stored.length} of ${count})`);
  await checkStored(target, names[0]!, side);
  await rm(pgdata, { recursive: true, force: true });
  return ms;
}

/** In-process pushes into an archive opened once per side; each stored file checked and removed after (not timed). */
async function inProcessPairs(setup: Setup, pairs: number, archives: Record<Side, WritableWalArchive>, compress: 'none' | 'gzip'): Promise<{ times: Record<Side, number[]>; stored: Record<Side, number> }> {
  const stored: Record<Side, number> = { plain: 0, encrypted: 0 };
  const times = await interleaved(pairs, async (side, i) => {
    const name = setup.segments[i % setup.segments.length]!;
    const t = performance.now();
    const result: ArchivePushResult = await archivePush(join(setup.source, name), { archive: archives[side], compress });
    const ms = performance.now() - t;
    if (!result.written) throw new Error(`bench row 12: ${name} was not written`);
    stored[side] = result.storedBytes;
    const archive = archives[side];
    if (!(archive instanceof EncryptedWalArchive)) throw new Error('bench row 12: an archive openWritableWalArchive did not open');
    await checkStored({ url: archive.name, raw: archive.inner }, result.storedAs, side);
    await archive.deleteFile?.(result.storedAs);
    return ms;
  });
  return { times, stored };
}

/** In-process archiveGet of segments stored once per side in s3rver (the archive opened once); each result checked against its source (not timed). */
async function s3GetPairs(setup: Setup, pairs: number, server: TestS3Server, keyring: Keyring): Promise<Record<Side, number[]>> {
  const archives: Record<Side, WritableWalArchive> = {
    plain: new EncryptedWalArchive(new S3WalArchive(server.storeOptions('get-plain'))) as WritableWalArchive,
    encrypted: new EncryptedWalArchive(new S3WalArchive(server.storeOptions('get-encrypted')), { keyring }) as WritableWalArchive,
  };
  for (const side of ['plain', 'encrypted'] as const) for (const name of setup.segments) await archivePush(join(setup.source, name), { archive: archives[side] });
  const dest = join(setup.work, 'got');
  return interleaved(pairs, async (side, i) => {
    const name = setup.segments[i % setup.segments.length]!;
    const t = performance.now();
    await archiveGet(name, dest, { archive: archives[side] });
    const ms = performance.now() - t;
    if (!(await readFile(dest)).equals(await readFile(join(setup.source, name)))) throw new Error(`bench row 12: ${name} from s3rver (${side}) came back different`);
    await rm(dest);
    return ms;
  });
}

/** seal() of one segment and Node's bare AES-256-GCM over it (one cipher, no chunks), median ms of `n`. */
function cipherAlone(segment: Buffer, keyring: Keyring, n: number): { seal: number; aes: number; extraBytes: number } {
  const sealMs: number[] = [];
  const aesMs: number[] = [];
  let extraBytes = 0;
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    extraBytes = seal(segment, segmentName(0), keyring).length - segment.length;
    sealMs.push(performance.now() - t);
    t = performance.now();
    const c = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
    c.update(segment);
    c.final();
    aesMs.push(performance.now() - t);
  }
  return { seal: median(sealMs), aes: median(aesMs), extraBytes };
}

export async function archiveEncryption({ work: parent, env }: Pick<BenchContext, 'work' | 'env'>): Promise<BenchRow[]> {
  const work = await mkdtemp(join(parent, 'encryption-'));
  let s3: TestS3Server | undefined;
  try {
    const keyFile = join(work, 'wal.key');
    await writeNewKey(keyFile);
    const keyring = Keyring.fromKeys(await readKeyFile(keyFile));
    const source = join(work, 'segments');
    const segments = await prepareSegments(source, BACKLOG);
    const setup: Setup = { work, env: { ...env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' }, keyFile, source, segments };
    const rows: BenchRow[] = [];
    const dirFor = async (label: string): Promise<string> => {
      const dir = join(work, label);
      await mkdir(dir, { recursive: true });
      return dir;
    };
    const dirTarget = async (label: string): Promise<Target> => {
      const dir = await dirFor(label);
      return { url: dir, raw: new FilesystemWalArchive({ directory: dir }) };
    };

    // (a) the CLI, sync, to a directory.
    const sync = await syncPairs(setup, PAIRS, (side) => dirTarget(`sync-${side}`));
    rows.push(line(`archive-push (CLI, sync) per 16 MiB segment to a directory, ${PAIRS} pairs`, sync, 'one Node start, read, write-once check, (seal,) temp file + fsync + link + directory fsync per segment'));

    // (b) --async backlog drains, to a directory.
    const drains = await interleaved(ROUNDS, async (side, i) => asyncDrain(setup, side, BACKLOG, await dirTarget(`async-${side}-${i}`)));
    rows.push(line(`archive-push --async (CLI): drain of a ${BACKLOG}-segment .ready backlog to a directory, per segment, ${ROUNDS} pairs`, drains, 'one command per segment, in order (each a Node start that waits for its acknowledgement); the pusher seals and stores 4 at once ahead'));

    // (c) in-process, the archive opened once per side.
    const dirArchives = async (label: string): Promise<Record<Side, WritableWalArchive>> => ({
      plain: await openWritableWalArchive(await dirFor(`${label}-plain`)),
      encrypted: await openWritableWalArchive(await dirFor(`${label}-encrypted`), { encryption: { keyring } }),
    });
    const alone = cipherAlone(await readFile(join(source, segments[0]!)), keyring, PAIRS);
    const inDir = await inProcessPairs(setup, PAIRS, await dirArchives('in-process'), 'none');
    rows.push(line(`archivePush in-process per 16 MiB segment to a directory (archive opened once), ${PAIRS} pairs`, inDir.times, `a sealed segment is ${alone.extraBytes} bytes longer (header + a 16-byte tag per 1 MiB chunk); fsync included`));
    const gzPairs = Math.max(2, Math.round(PAIRS / 2));
    const inGzip = await inProcessPairs(setup, gzPairs, await dirArchives('in-process-gzip'), 'gzip');
    rows.push(line(`archivePush --compress gzip in-process per 16 MiB segment to a directory, ${gzPairs} pairs`, inGzip.times, `compressed to ${(inGzip.stored.plain / 2 ** 20).toFixed(1)} MiB first, so the cipher has less to do`));
    const memory = new MemoryWalArchive();
    const inMemory = await inProcessPairs(setup, PAIRS, { plain: new EncryptedWalArchive(memory) as WritableWalArchive, encrypted: new EncryptedWalArchive(memory, { keyring }) as WritableWalArchive }, 'none');
    rows.push(
      line(`archivePush in-process per 16 MiB segment to an archive in memory (no I/O: the cipher alone), ${PAIRS} pairs`, inMemory.times, `plain is the read of the segment and the write-once check; seal() of one segment alone ${alone.seal.toFixed(1)} ms (${(SEGMENT_BYTES / 2 ** 20 / (alone.seal / 1000)).toFixed(0)} MiB/s), Node's bare AES-256-GCM over it ${alone.aes.toFixed(1)} ms; no target of its own (the issue's is end to end)`),
    );

    if (WITH_S3) {
      s3 = await TestS3Server.start('wal');
      const server = s3;
      const s3Target = (prefix: string): Target => ({ url: s3ArchiveUrl(server, prefix), raw: new S3WalArchive(server.storeOptions(prefix)) });
      const syncS3 = await syncPairs(setup, S3_PAIRS, async (side, i) => s3Target(`sync-${side}-${i}`));
      rows.push(line(`archive-push (CLI, sync) per 16 MiB segment to s3rver, ${S3_PAIRS} pairs`, syncS3, 'one Node start, the AWS SDK load, three GETs (write-once check) and a conditional PUT with Content-MD5 per segment; s3rver on the same 2 cores'));
      const drainsS3 = await interleaved(S3_ROUNDS, (side, i) => asyncDrain(setup, side, S3_BACKLOG, s3Target(`async-${side}-${i}`)));
      rows.push(line(`archive-push --async (CLI): drain of a ${S3_BACKLOG}-segment .ready backlog to s3rver, per segment, ${S3_ROUNDS} pairs`, drainsS3, 'as the directory line, the pusher PUTs 4 at once'));
      const getS3 = await s3GetPairs(setup, PAIRS, server, keyring);
      rows.push(line(`archiveGet in-process per 16 MiB segment from s3rver (archive opened once), ${PAIRS} pairs`, getS3, 'GET (s3rver in this process), the MD5 of a plain object against its ETag or the tags of a sealed one, temp file + rename'));
    }
    for (const r of rows) console.error(`bench row 12: ${r.name}: encrypted ${spread(r.ours)}, plain ${spread(r.baseline!)}`);
    return rows;
  } finally {
    await s3?.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-bench-encryption-'));
  try {
    for (const row of await archiveEncryption({ work, env: { ...process.env, XDG_STATE_HOME: join(work, 'state') } })) {
      console.log(`${row.name}: ${(median(row.ours) / median(row.baseline!)).toFixed(3)}x; ${row.note}`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
