// Bench row 13 (issue 20): what one archive_command call costs as PostgreSQL runs it: the line with
// %p, %f and %% substituted, run by `/bin/sh -c` from the data directory (PostgreSQL's archiver
// calls system() there), one call per prepared segment, the time from spawn to exit. Four lines
// side by side in one run, interleaved call by call (the order rotating each round):
//  - the --async line of archivePushCommand(), its shell fast path hit: <spool>/<segment>.stored is
//    a hard link to the segment (made here with link(), as the pusher leaves it beside its .ok);
//  - the same line, the marker missing but the .ok acknowledgement there (inode, size, mtime of
//    the segment, as the pusher writes it): the Node path's hit, the compiled CLI starts, finds
//    it and exits 0;
//  - `test -f pg_wal/%f`: sh alone (and this process's spawn), the floor of any archive_command;
//  - `cp %p DIR/%f && sync DIR/%f` (row 8's cp + sync line), the copy removed after each call.
// The figure is the p99 (target 20 ms for the fast-path hit, the issue's); the note has p50, max and
// mean. Checks: every call exits 0; the fast path's bracket test alone succeeds for every segment
// before the run and fails for every Node-path one; after it, no pusher was started and nothing
// stored by either (so every Node-path call was an acknowledgement hit), and every cp stored its copy.
// Then where the hit comes from: a real pusher draining a .ready backlog (PGSB_BENCH_FASTPATH_BACKLOG,
// 24 segments) to a directory, the line run for each segment in order through sh -c from the data
// directory, .ready renamed to .done after each exit 0 (as the archiver does), the --async line vs
// the same without its fast path, rounds alternating which goes first; the CLI is started through a
// wrapper that counts its starts. The figure is the drain time per segment (a ratio, no target).
// Segments: 16 MiB of random bytes, hard links to a pool of 4 (cp reads real bytes; the other
// lines never read the segment). Uses the compiled CLI (dist/): what users run.
// Alone: `PGSB_BENCH_ONLY=13 npm run bench`, or `npm run build && node --import tsx bench/rows/13-archive-fast-path.ts`.
import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { archivePushCommand } from '../../src/index.js';
import { run } from '../../test/harness/index.js';
import { CLI_MAIN, median, nodePathOnly, percentile, type BenchContext, type BenchRow } from '../harness.js';

/** Timed calls per line (after the warm-up). */
const CALLS = Number(process.env.PGSB_BENCH_FASTPATH_CALLS ?? 250);
/** Segments per backlog drain, and drains per side. */
const BACKLOG = Number(process.env.PGSB_BENCH_FASTPATH_BACKLOG ?? 24);
const ROUNDS = Number(process.env.PGSB_BENCH_FASTPATH_ROUNDS ?? 4);
/** Untimed calls per line first (page cache, the CLI's files). */
const WARMUP = 5;
const POOL = 4;
const SEGMENT_BYTES = 16 * 2 ** 20;
const DIST_PROGRAM = `${process.execPath} ${CLI_MAIN}`;
/** The pusher's default spool, relative to the data directory (archivePushCommand's marker lives there). */
const SPOOL = join('pg_wal', 'pgsb-archive-push');

/** Segment `i` of timeline 1, named as the server names 16 MiB segments. */
export const segmentName = (i: number): string => `00000001${(i >> 8).toString(16).toUpperCase().padStart(8, '0')}${(i & 0xff).toString(16).toUpperCase().padStart(8, '0')}`;

/** The line as PostgreSQL hands it to sh for `walFile` (%p relative to the data directory). */
export function substitute(line: string, walFile: string): string {
  return line.replace(/%[pf%]/g, (m) => (m === '%p' ? `pg_wal/${walFile}` : m === '%f' ? walFile : '%'));
}

interface Line {
  readonly key: 'fast' | 'node' | 'sh' | 'cp';
  readonly name: string;
  readonly pgdata: string;
  readonly command: string;
  /** After each call, untimed. */
  after?(walFile: string): Promise<void>;
}

/** A data directory whose pg_wal holds `names` (links to the pool), with archive_status. */
async function dataDirectory(parent: string, label: string, pool: readonly string[], names: readonly string[]): Promise<string> {
  const pgdata = join(parent, label);
  await mkdir(join(pgdata, 'pg_wal', 'archive_status'), { recursive: true });
  for (const [i, name] of names.entries()) await link(pool[i % pool.length]!, join(pgdata, 'pg_wal', name));
  return pgdata;
}

/** The .ok acknowledgement of `walFile` as the pusher writes it (archive-pusher.ts: the segment file's inode, size and mtime). */
async function acknowledge(pgdata: string, walFile: string): Promise<void> {
  const st = await stat(join(pgdata, 'pg_wal', walFile));
  await writeFile(join(pgdata, SPOOL, `${walFile}.ok`), JSON.stringify({ ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, storedAs: walFile, written: true }));
}

/** `sh -c line` from `cwd` (as the server user when `asServer` and root, as PostgreSQL runs it): exit code and ms from spawn to exit. */
export async function call(command: string, cwd: string, env: NodeJS.ProcessEnv, asServer = false): Promise<{ ms: number; code: number | null; output: string }> {
  const t = performance.now();
  const r = await run('/bin/sh', ['-c', command], { cwd, env, asServer });
  return { ms: performance.now() - t, code: r.code, output: `${r.stdout}${r.stderr}` };
}

/**
 * One backlog drain: `count` segments all .ready in a fresh data directory, `lineFor(archive)` run
 * for each in order through sh -c, .ready renamed to .done after each exit 0; then waits for the
 * pusher to exit (idle 2 s) and checks the archive holds every segment. Per segment ms, and the
 * CLI starts the wrapper counted.
 */
async function drain(work: string, pool: readonly string[], count: number, lineFor: (archive: string) => string, starts: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; starts: number }> {
  const names = Array.from({ length: count }, (_, i) => segmentName(i + 1));
  const pgdata = await dataDirectory(await mkdtemp(join(work, 'drain-')), 'pgdata', pool, names);
  const status = join(pgdata, 'pg_wal', 'archive_status');
  for (const name of names) await writeFile(join(status, `${name}.ready`), '');
  const archive = await mkdtemp(join(work, 'drain-archive-'));
  const line = lineFor(archive);
  const before = (await readFile(starts, 'utf8')).length;
  const t = performance.now();
  for (const name of names) {
    const r = await call(substitute(line, name), pgdata, env);
    if (r.code !== 0) throw new Error(`bench row 13: the backlog drain's ${name} exited ${r.code}: ${r.output}`);
    await rename(join(status, `${name}.ready`), join(status, `${name}.done`));
  }
  const ms = (performance.now() - t) / count;
  const started = (await readFile(starts, 'utf8')).length - before;
  const lock = join(pgdata, SPOOL, 'pusher.lock');
  for (let i = 0; i < 300 && (await stat(lock).catch(() => undefined)); i++) await delay(50);
  const stored = new Set(await readdir(archive));
  if (names.some((n) => !stored.has(n))) throw new Error(`bench row 13: the backlog drain stored ${stored.size} of ${count} segments`);
  await rm(join(pgdata, '..'), { recursive: true, force: true });
  await rm(archive, { recursive: true, force: true });
  return { ms, starts: started };
}

const signed = (ms: number): string => `${ms < 0 ? '-' : '+'}${Math.abs(ms).toFixed(1)}`;

const stats = (xs: number[]): string => `p50 ${median(xs).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms, mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} ms`;

export async function archiveFastPath({ work: parent, env }: Pick<BenchContext, 'work' | 'env'>): Promise<BenchRow[]> {
  const work = await mkdtemp(join(parent, 'fast-path-'));
  try {
    const pool: string[] = [];
    await mkdir(join(work, 'pool'));
    for (let i = 0; i < POOL; i++) {
      pool.push(join(work, 'pool', `segment-${i}`));
      await writeFile(pool[i]!, randomBytes(SEGMENT_BYTES));
    }
    const names = Array.from({ length: WARMUP + CALLS }, (_, i) => segmentName(i + 1));
    const archive = join(work, 'archive');
    const cpArchive = join(work, 'cp-archive');
    await mkdir(archive);
    await mkdir(cpArchive);
    const asyncLine = archivePushCommand(archive, { program: DIST_PROGRAM, async: true });

    // (a) the fast path: acknowledgement and marker, as the pusher leaves them.
    const fast = await dataDirectory(work, 'pgdata-fast', pool, names);
    await mkdir(join(fast, SPOOL), { recursive: true, mode: 0o700 });
    for (const name of names) {
      await acknowledge(fast, name);
      await link(join(fast, 'pg_wal', name), join(fast, SPOOL, `${name}.stored`));
    }
    // (b) the Node path: the acknowledgement only.
    const node = await dataDirectory(work, 'pgdata-node', pool, names);
    await mkdir(join(node, SPOOL), { recursive: true, mode: 0o700 });
    for (const name of names) await acknowledge(node, name);
    // The bracket test alone: true for every fast-path segment, false for every Node-path one.
    const bracket = /^(\[ .* \]) \|\| /.exec(asyncLine)?.[1];
    if (!bracket) throw new Error(`bench row 13: the --async line has no shell fast path: ${asyncLine}`);
    for (const name of names) {
      if ((await run('/bin/sh', ['-c', substitute(bracket, name)], { cwd: fast })).code !== 0) throw new Error(`bench row 13: the fast path's test fails for ${name}: ${substitute(bracket, name)}`);
      if ((await run('/bin/sh', ['-c', substitute(bracket, name)], { cwd: node })).code === 0) throw new Error(`bench row 13: the fast path's test succeeds without a marker for ${name}`);
    }

    const lines: Line[] = [
      { key: 'fast', name: 'the --async line, shell fast path hit (marker linked)', pgdata: fast, command: asyncLine },
      { key: 'node', name: 'the same line, marker missing, .ok there (the CLI starts, finds it, exits 0)', pgdata: node, command: asyncLine },
      { key: 'sh', name: "sh alone: `test -f pg_wal/%f`", pgdata: await dataDirectory(work, 'pgdata-sh', pool, names), command: 'test -f pg_wal/%f' },
      {
        key: 'cp',
        name: 'cp + sync: `test ! -f DIR/%f && cp %p DIR/%f && sync DIR/%f`',
        pgdata: await dataDirectory(work, 'pgdata-cp', pool, names),
        command: `test ! -f ${cpArchive}/%f && cp %p ${cpArchive}/%f && sync ${cpArchive}/%f`,
        async after(walFile) {
          const copy = join(cpArchive, walFile);
          if ((await stat(copy)).size !== SEGMENT_BYTES) throw new Error(`bench row 13: cp stored a short ${walFile}`);
          await rm(copy);
        },
      },
    ];
    const times: Record<Line['key'], number[]> = { fast: [], node: [], sh: [], cp: [] };
    for (const [i, name] of names.entries()) {
      for (let k = 0; k < lines.length; k++) {
        const line = lines[(i + k) % lines.length]!;
        const r = await call(substitute(line.command, name), line.pgdata, env);
        if (r.code !== 0) throw new Error(`bench row 13: ${line.name} exited ${r.code} for ${name}: ${r.output}`);
        if (i >= WARMUP) times[line.key].push(r.ms);
        await line.after?.(name);
      }
    }
    // No pusher started, nothing stored: every Node-path call was an acknowledgement hit, and no
    // fast-path call got past its test.
    for (const pgdata of [fast, node]) {
      const spool = await readdir(join(pgdata, SPOOL));
      if (spool.some((n) => n.startsWith('pusher.'))) throw new Error(`bench row 13: a pusher was started in ${pgdata} (${spool.filter((n) => n.startsWith('pusher.')).join(', ')})`);
    }
    if ((await readdir(archive)).length > 0) throw new Error('bench row 13: something was pushed to the archive');

    const sh = times.sh;
    const row = (line: Line, target: number, note: string): BenchRow => ({
      name: `13. archive_command per call (sh -c from the data directory), ${line.name}, ${CALLS} calls: p99`,
      unit: 'ms',
      ours: times[line.key],
      target,
      percentile: 99,
      note: `${stats(times[line.key])}; ${note}`,
    });
    const rows = [
      row(lines[0]!, 20, `${signed(median(times.fast) - median(sh))} ms against sh alone at p50, ${signed(percentile(times.fast, 99) - percentile(sh, 99))} ms at p99`),
      row(lines[1]!, 20, `for comparison (the 20 ms goal is the fast path's): ${(median(times.node) / median(times.fast)).toFixed(0)}x the fast-path hit at p50`),
      row(lines[2]!, 20, 'for comparison: the floor of any archive_command (fork + exec of sh from this process)'),
      row(lines[3]!, 20, 'for comparison (16 MiB random, from the page cache; sync = fsync of the copy)'),
    ];

    // The backlog drains: the CLI through a wrapper that appends one byte per start.
    const starts = join(work, 'cli-starts');
    await writeFile(starts, '');
    const wrapper = join(work, 'pgsb-counted');
    await writeFile(wrapper, `#!/bin/sh\nprintf x >> ${starts}\nexec ${DIST_PROGRAM} "$@"\n`, { mode: 0o755 });
    const drains = { fast: [] as number[], node: [] as number[] };
    const drainStarts = { fast: [] as number[], node: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const side of i % 2 === 0 ? (['fast', 'node'] as const) : (['node', 'fast'] as const)) {
        const lineFor = (dir: string): string => {
          const line = archivePushCommand(dir, { program: wrapper, async: true });
          return side === 'fast' ? line : nodePathOnly(line);
        };
        const r = await drain(work, pool, BACKLOG, lineFor, starts, env);
        drains[side].push(r.ms);
        drainStarts[side].push(r.starts);
      }
    }
    const startsOf = (xs: number[]): string => `${Math.min(...xs)}-${Math.max(...xs)}`;
    rows.push({
      name: `13. --async drain of a ${BACKLOG}-segment .ready backlog to a directory through sh -c, per segment, ${ROUNDS} pairs: with the shell fast path vs Node path only`,
      unit: 'ms',
      ours: drains.fast,
      baseline: drains.node,
      target: 1,
      note: `no target in the issue (for comparison); CLI starts per drain ${startsOf(drainStarts.fast)} with the fast path, ${startsOf(drainStarts.node)} without (of ${BACKLOG} calls); the pusher stores 4 at once, at most 32 ahead`,
    });
    for (const r of rows) console.error(`bench row 13: ${r.name}: ${r.baseline ? `${median(r.ours).toFixed(1)} vs ${median(r.baseline).toFixed(1)} ms; ` : ''}${r.note}`);
    return rows;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const work = await mkdtemp(join(tmpdir(), 'pgsb-bench-fast-path-'));
  try {
    for (const row of await archiveFastPath({ work, env: { ...process.env, XDG_STATE_HOME: join(work, 'state') } })) console.log(`${row.name}: ${row.note}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
