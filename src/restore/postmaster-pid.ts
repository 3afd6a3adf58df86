import { readFile, readlink, realpath } from 'node:fs/promises';

/**
 * What a `postmaster.pid` in a restored data copy means:
 * - `live`: a server runs on this directory (or may: a postgres process we cannot look into);
 * - `stale`: left behind, by the copy or by a server that is gone; safe to remove.
 */
export type PostmasterPidVerdict =
  | { readonly kind: 'live'; readonly pid: number; readonly why: string }
  | { readonly kind: 'stale'; readonly why: string };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function sameDirectory(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([realpath(a).catch(() => undefined), realpath(b).catch(() => undefined)]);
  return x !== undefined && x === y;
}

/** `/proc/PID/stat`'s state letter (Z: a zombie, which holds no lock), or undefined without /proc. */
async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // "pid (comm) S ...": comm may hold spaces and parentheses, so the state follows the last ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/**
 * Decides whether `postmaster.pid` (its lines, as read) belongs to a server running on `pgdata`.
 * A copy made without the exclusions carries the *source's* file: its data-directory line names
 * the source, or its PID is the source's postmaster (running beside us), a zombie, or an unrelated
 * process. Only a live postgres process whose working directory is `pgdata` (the postmaster
 * chdirs there) counts as live; where /proc cannot tell, a running PID with this directory's line
 * is taken as live, to be safe.
 */
export async function judgePostmasterPid(pgdata: string, lines: readonly string[]): Promise<PostmasterPidVerdict> {
  const pid = Number(lines[0]);
  const dataDirLine = lines[1]?.trim() ?? '';
  if (!Number.isInteger(pid) || pid <= 0) return { kind: 'stale', why: 'it names no process' };
  if (dataDirLine !== '' && !(await sameDirectory(dataDirLine, pgdata))) {
    return { kind: 'stale', why: `it came with the copy: it names the data directory ${dataDirLine}, not this one` };
  }
  if (!alive(pid)) return { kind: 'stale', why: `process ${pid} is not running` };
  const state = await processState(pid);
  if (state === 'Z') return { kind: 'stale', why: `process ${pid} has exited (a zombie)` };
  const cwd = await readlink(`/proc/${pid}/cwd`).catch((error: NodeJS.ErrnoException) => error.code);
  if (cwd === 'ENOENT' && state === undefined) {
    // No /proc (not Linux): a running PID with this directory's line may be its server.
    return { kind: 'live', pid, why: `process ${pid} is running` };
  }
  if (typeof cwd === 'string' && cwd.startsWith('/')) {
    if (await sameDirectory(cwd, pgdata)) return { kind: 'live', pid, why: `process ${pid} runs in this directory` };
    return { kind: 'stale', why: `process ${pid} is running, but not on this directory (it runs in ${cwd})` };
  }
  // /proc/PID/cwd is not ours to read (another user's process): its name still tells.
  const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
  if (comm !== '' && comm !== 'postgres' && comm !== 'postmaster') return { kind: 'stale', why: `process ${pid} is ${comm}, not a PostgreSQL server` };
  return { kind: 'live', pid, why: `process ${pid} is a PostgreSQL server whose directory cannot be checked` };
}
