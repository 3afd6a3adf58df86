import { execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { chown, readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';

/** The OS user PostgreSQL runs as: `postgres` when the tests run as root (it refuses root), else ourselves. */
export interface RunAsUser {
  readonly uid: number;
  readonly gid: number;
}

let cached: RunAsUser | undefined | null = null;

/** The `postgres` user's ids when we are root, `undefined` otherwise. */
export function serverUser(): RunAsUser | undefined {
  if (cached !== null) return cached;
  if (process.getuid?.() !== 0) return (cached = undefined);
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return (cached = { uid, gid });
}

/** Spawn options that run the child as the server user when we are root. */
export function asServerUser(options: SpawnOptions = {}): SpawnOptions {
  const user = serverUser();
  return user ? { ...options, uid: user.uid, gid: user.gid } : options;
}

/** chown -R to the server user (no-op unless root). Links are changed, not followed. */
export async function chownToServerUser(path: string): Promise<void> {
  const user = serverUser();
  if (!user) return;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p);
    if (st.isSymbolicLink()) return;
    await chown(p, user.uid, user.gid);
    if (st.isDirectory()) for (const entry of await readdir(p)) await walk(join(p, entry));
  };
  await walk(path);
}

/** The result of a finished command. */
export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (as the server user when `asServer`), collecting its output. */
export function run(cmd: string, args: readonly string[], options: SpawnOptions & { asServer?: boolean; input?: string } = {}): Promise<CommandResult> {
  const { asServer, input, ...rest } = options;
  const spawnOptions = asServer ? asServerUser(rest) : rest;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...spawnOptions, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (input !== undefined) {
      // A child that exits without reading its input must not fail the run.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input);
    }
  });
}

/** Like {@link run}, but rejects with the output when the exit code is not 0. */
export async function runOk(cmd: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<CommandResult> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${result.code ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  return result;
}
