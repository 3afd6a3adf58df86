import { readFileSync } from 'node:fs';

/** A process as the lock and the record name it: the pid, plus its start time where the OS tells. */
export interface ProcessIdentity {
  readonly pid: number;
  /**
   * Linux: field 22 of `/proc/<pid>/stat` (clock ticks after boot). Tells a holder from an
   * unrelated process that got the same pid later (after a reboot, say).
   */
  readonly startTicks?: string;
}

function procStat(pid: number): { state: string; startTicks: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces: count fields after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    const startTicks = fields[19];
    return state !== undefined && startTicks !== undefined ? { state, startTicks } : undefined;
  } catch {
    return undefined;
  }
}

/** This process's identity. */
export function selfIdentity(): ProcessIdentity {
  const startTicks = procStat(process.pid)?.startTicks;
  return startTicks === undefined ? { pid: process.pid } : { pid: process.pid, startTicks };
}

/**
 * Whether the process is still running: it exists, is not a zombie (a killed holder whose parent
 * has not reaped it yet), and, where known, started when the identity says.
 */
export function isRunning(identity: ProcessIdentity | undefined): boolean {
  const pid = identity?.pid;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (stat === undefined) return process.platform !== 'linux';
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return identity!.startTicks === undefined || identity!.startTicks === stat.startTicks;
}
