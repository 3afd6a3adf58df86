// Runs the real CLI as a child process (`node --import tsx src/cli/main.ts ...`), as a backup
// program would: piped stdio, read to EOF. Every child carries a tag in its environment, which its
// holder inherits, so a test can find (and finally kill) the holders it caused.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TAG_VARIABLE = 'PGSB_CLI_TEST_TAG';

/** The outcome of one CLI run. */
export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed, when it is one JSON object. */
  readonly json: Record<string, any> | undefined;
  /** From spawn to the end of stdout and stderr (EOF): what a backup program waits for. */
  readonly ms: number;
  /** From the process's exit to EOF on its pipes: near 0 unless someone else holds them. */
  readonly eofAfterExitMs: number;
}

/** A sandbox per test: runtime dir, state dir (spool), sink dirs, and a tag for the holders. */
export class CliSandbox {
  readonly tag = randomBytes(6).toString('hex');
  readonly base: string;
  readonly runtimeDir: string;
  readonly stateDir: string;

  private constructor(base: string) {
    this.base = base;
    this.runtimeDir = join(base, 'rt');
    this.stateDir = join(base, 'state');
  }

  static async create(): Promise<CliSandbox> {
    return new CliSandbox(await mkdtemp(join(tmpdir(), 'pgsb-cli-')));
  }

  /** A sink directory inside the sandbox. */
  sink(name = 'sink'): string {
    return join(this.base, name);
  }

  /** The library's spool directory as the holders see it (XDG_STATE_HOME points into the sandbox). */
  get spoolDir(): string {
    return join(this.stateDir, 'pg-split-backup', 'spool');
  }

  /** The environment of a CLI child: ours minus runtime-dir variables, plus the tag and the state dir. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: this.stateDir, [TAG_VARIABLE]: this.tag };
    delete env.PG_SPLIT_BACKUP_RUNTIME_DIR;
    delete env.XDG_RUNTIME_DIR;
    delete env.NODE_TEST_CONTEXT; // the CLI is not a test file
    return { ...env, ...extra };
  }

  /**
   * Runs the CLI with `--runtime-dir` of this sandbox appended (unless `runtimeDir: false`).
   * `nodeArgs` go to node before the CLI's entry (a holder pre starts inherits them).
   */
  run(
    args: readonly string[],
    options: { env?: NodeJS.ProcessEnv; runtimeDir?: string | false; nodeArgs?: readonly string[]; onSpawn?: (child: ChildProcessWithoutNullStreams) => void } = {},
  ): Promise<CliRun> {
    const rt = options.runtimeDir === undefined ? ['--runtime-dir', this.runtimeDir] : options.runtimeDir === false ? [] : ['--runtime-dir', options.runtimeDir];
    return runCli([...args, ...rt], this.env(options.env), options.onSpawn, options.nodeArgs);
  }

  /** Files in the runtime directory (none if it does not exist). */
  async runtimeFiles(): Promise<string[]> {
    return (await readdir(this.runtimeDir).catch(() => [] as string[])).sort();
  }

  /** Live processes started on behalf of this sandbox (holders, mostly). */
  processes(): number[] {
    return taggedProcesses(this.tag);
  }

  /** SIGKILLs whatever this sandbox left running and removes its files. */
  async destroy(): Promise<void> {
    for (const pid of this.processes()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(this.base, { recursive: true, force: true });
  }
}

/** Runs `node --import tsx [...nodeArgs] src/cli/main.ts ...args` from the project root with piped stdio. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, onSpawn?: (child: ChildProcessWithoutNullStreams) => void, nodeArgs: readonly string[] = []): Promise<CliRun> {
  const began = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let exitedAt = 0;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      exitedAt = performance.now();
      exit = { code, signal };
    });
    // 'close' comes when the process has exited AND its stdio streams have ended (EOF).
    child.on('close', () => {
      const closedAt = performance.now();
      let json: Record<string, any> | undefined;
      try {
        json = JSON.parse(stdout) as Record<string, any>;
      } catch {
        json = undefined;
      }
      resolve({ code: exit?.code ?? null, signal: exit?.signal ?? null, stdout, stderr, json, ms: closedAt - began, eofAfterExitMs: closedAt - exitedAt });
    });
    child.stdin.end();
    onSpawn?.(child);
  });
}

/** Pids of live processes whose environment carries `tag` (Linux /proc). */
export function taggedProcesses(tag: string): number[] {
  const needle = `${TAG_VARIABLE}=${tag}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').includes(needle)) continue;
      // tsx's esbuild service lives and dies with the node process that started it: not ours to count.
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('esbuild')) continue;
      pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** Whether a process is alive (and not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await delay(intervalMs);
  }
}

/** A failure message that shows what the CLI said. */
export function explain(run: CliRun): string {
  return `exit ${run.code ?? run.signal}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}
