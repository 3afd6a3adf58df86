// A throwaway Bacula site on 127.0.0.1: director (sqlite3 catalog), storage daemon (file volumes),
// file daemon and bconsole, each a foreground child process with its own config and working
// directory under one temp dir. No systemd, no /etc/bacula: Debian's packages only bring the programs.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './cluster.js';
import { run, runOk } from './os-user.js';

const SBIN = '/usr/sbin';
const MAKE_TABLES = '/usr/share/bacula-director/make_sqlite3_tables';

/** What the site's director config holds besides its fixed resources (Jobs, FileSets...). */
export interface BaculaSiteOptions {
  /** Director resources (Jobs, FileSets, Pools, Storages), written after the site's own. */
  readonly resources: (site: SiteFacts) => string;
  /** More storage daemon Devices (the site has one, FileDev, for Storage File1). */
  readonly devices?: (site: SiteFacts) => string;
  /** The file daemon's environment: the hooks it runs inherit it. */
  readonly fdEnv?: NodeJS.ProcessEnv;
  /** The director's environment: its RunScripts inherit it. */
  readonly dirEnv?: NodeJS.ProcessEnv;
}

/** What a config needs to know of the site. */
export interface SiteFacts {
  /** The site's directory. */
  readonly dir: string;
  /** bconsole's config, for a RunScript that calls bconsole. */
  readonly bconsoleConf: string;
  /** The storage daemon's port, for more Storage resources. */
  readonly sdPort: number;
}

/** One job's row, as `llist jobid=N` prints it. */
export interface BaculaJob {
  readonly jobId: number;
  readonly name: string;
  readonly status: string;
  readonly errors: number;
}

export class BaculaSite {
  readonly dir: string;
  readonly bconsoleConf: string;
  readonly #children: ChildProcess[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.bconsoleConf = join(dir, 'bconsole.conf');
  }

  /** Writes the four configs and the catalog, starts sd, fd and dir, and waits until bconsole answers. */
  static async start(options: BaculaSiteOptions): Promise<BaculaSite> {
    const site = new BaculaSite(await mkdtemp(join(tmpdir(), 'pgsb-bacula-')));
    try {
      await site.#start(options);
      return site;
    } catch (error) {
      await site.destroy();
      throw error;
    }
  }

  async #start(options: BaculaSiteOptions): Promise<void> {
    const d = this.dir;
    for (const sub of ['dir', 'sd', 'fd', 'volumes', 'restores']) await mkdir(join(d, sub));
    const [dirPort, sdPort, fdPort] = [await freePort(), await freePort(), await freePort()];
    const facts: SiteFacts = { dir: d, bconsoleConf: this.bconsoleConf, sdPort };
    await writeFile(
      join(d, 'bacula-sd.conf'),
      `Storage { Name = pgsb-sd; SDPort = ${sdPort}; SDAddress = 127.0.0.1; WorkingDirectory = "${d}/sd"; Pid Directory = "${d}/sd"; Maximum Concurrent Jobs = 10 }
Director { Name = pgsb-dir; Password = "sd-secret" }
Device {
  Name = FileDev; Media Type = File; Archive Device = "${d}/volumes"
  LabelMedia = yes; Random Access = yes; AutomaticMount = yes; RemovableMedia = no; AlwaysOpen = no
  Maximum Concurrent Jobs = 10
}
${options.devices?.(facts) ?? ''}
Messages { Name = Standard; director = pgsb-dir = all }
`,
    );
    await writeFile(
      join(d, 'bacula-fd.conf'),
      `FileDaemon { Name = pgsb-fd; FDport = ${fdPort}; FDAddress = 127.0.0.1; WorkingDirectory = "${d}/fd"; Pid Directory = "${d}/fd"; Maximum Concurrent Jobs = 10 }
Director { Name = pgsb-dir; Password = "fd-secret" }
Messages { Name = Standard; director = pgsb-dir = all, !skipped, !restored }
`,
    );
    await writeFile(this.bconsoleConf, `Director { Name = pgsb-dir; DIRport = ${dirPort}; Address = 127.0.0.1; Password = "dir-secret" }\n`);
    await writeFile(
      join(d, 'bacula-dir.conf'),
      `Director {
  Name = pgsb-dir; DIRport = ${dirPort}; DirAddress = 127.0.0.1
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = "${d}/dir"; PidDirectory = "${d}/dir"
  Maximum Concurrent Jobs = 10; Password = "dir-secret"; Messages = Daemon
}
Client { Name = pgsb-fd; Address = 127.0.0.1; FDPort = ${fdPort}; Catalog = Catalog; Password = "fd-secret"; Maximum Concurrent Jobs = 10 }
Storage { Name = File1; Address = 127.0.0.1; SDPort = ${sdPort}; Password = "sd-secret"; Device = FileDev; Media Type = File; Maximum Concurrent Jobs = 10 }
Catalog { Name = Catalog; dbname = "bacula"; dbuser = ""; dbpassword = "" }
Pool { Name = Default; Pool Type = Backup; Label Format = "Vol-"; Maximum Volume Jobs = 1; Recycle = no; AutoPrune = no }
Messages { Name = Standard; append = "${d}/jobs.log" = all, !skipped; catalog = all, !skipped, !saved }
Messages { Name = Daemon; append = "${d}/daemon.log" = all, !skipped }
JobDefs {
  Name = pgsb-defaults; Type = Backup; Level = Full; Client = pgsb-fd; Storage = File1; Pool = Default
  Messages = Standard; Priority = 10; Write Bootstrap = "${d}/dir/%c-%i.bsr"
}
Job {
  Name = RestoreFiles; Type = Restore; Client = pgsb-fd; Storage = File1; Pool = Default; Messages = Standard
  FileSet = "restore-any"; Where = "${d}/restores"
}
FileSet { Name = "restore-any"; Include { File = /nonexistent } }
${options.resources(facts)}
`,
    );
    // The catalog: Debian's table script with its database name and directory filled in.
    const tables = (await readFile(MAKE_TABLES, 'utf8')).replace(/^cd .*$/m, '').replaceAll('XXX_DBNAME_XXX', join(d, 'dir', 'bacula'));
    await runOk('sh', ['-c', tables]);
    for (const conf of ['bacula-sd.conf', 'bacula-fd.conf', 'bacula-dir.conf']) {
      const check = await run(join(SBIN, conf.replace('.conf', '')), ['-t', '-c', join(d, conf)]);
      if (check.code !== 0) throw new Error(`${conf} does not parse: ${check.stdout}${check.stderr}`);
    }
    this.#spawn('bacula-sd');
    this.#spawn('bacula-fd', options.fdEnv);
    this.#spawn('bacula-dir', options.dirEnv);
    for (let i = 0; ; i++) {
      const status = await run(join(SBIN, 'bconsole'), ['-c', this.bconsoleConf], { input: 'status dir\n' });
      if (status.code === 0 && /Daemon started/.test(status.stdout)) break;
      if (i > 100) throw new Error(`the director does not answer: ${status.stdout}${status.stderr}\n${await this.logs()}`);
      await delay(100);
    }
  }

  #spawn(daemon: 'bacula-sd' | 'bacula-fd' | 'bacula-dir', env: NodeJS.ProcessEnv = {}): void {
    const conf = join(this.dir, `${daemon}.conf`);
    // -f: foreground, a child of the test; -s: no signal handler that would dump a traceback file.
    const child = spawn(join(SBIN, daemon), ['-f', '-s', '-c', conf], { cwd: this.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = join(this.dir, `${daemon}.out`);
    child.stdout?.on('data', (chunk: Buffer) => void appendFile(log, chunk).catch(() => undefined));
    child.stderr?.on('data', (chunk: Buffer) => void appendFile(log, chunk).catch(() => undefined));
    this.#children.push(child);
  }

  /** Runs bconsole with these commands on stdin; returns what it printed. */
  async console(commands: string): Promise<string> {
    const result = await run(join(SBIN, 'bconsole'), ['-c', this.bconsoleConf], { input: `${commands}\nquit\n` });
    if (result.code !== 0) throw new Error(`bconsole failed (${result.code}): ${result.stdout}${result.stderr}`);
    return result.stdout;
  }

  /** Starts a job (`run job=NAME ... yes`) and returns its JobId. */
  async run(args: string): Promise<number> {
    const out = await this.console(`run ${args} yes`);
    const id = /Job queued\. JobId=(\d+)/.exec(out);
    if (!id) throw new Error(`run ${args}: no job queued:\n${out}`);
    return Number(id[1]);
  }

  /** Every job the catalog knows, oldest first. */
  async jobs(): Promise<BaculaJob[]> {
    const out = await this.console('llist jobs');
    return out
      .split(/\n\s*\n/)
      .map((block) => {
        const field = (name: string): string | undefined => new RegExp(`^\\s*${name}:\\s*(.*)$`, 'mi').exec(block)?.[1]?.trim();
        const jobId = field('jobid');
        if (jobId === undefined) return undefined;
        return { jobId: Number(jobId.replace(/,/g, '')), name: field('name') ?? '', status: field('jobstatus') ?? '', errors: Number(field('joberrors') ?? 0) };
      })
      .filter((job): job is BaculaJob => job !== undefined);
  }

  /** Waits until job `jobId` has ended (any status but created, running, waiting) and returns it. */
  async waitForJob(jobId: number, timeoutMs = 60_000): Promise<BaculaJob> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = (await this.jobs()).find((j) => j.jobId === jobId);
      // C created, R running, and the waiting states (F M S m s j c d t p i a).
      if (job && !/^[CRFMSmsjcdtpia]$/.test(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job?.status ?? 'unknown'} after ${timeoutMs} ms\n${await this.logs()}`);
      await delay(250);
    }
  }

  /** The job's messages, as the catalog keeps them. */
  async jobLog(jobId: number): Promise<string> {
    return this.console(`list joblog jobid=${jobId}`);
  }

  /** The daemons' own output and the message files, for a failure message. */
  async logs(): Promise<string> {
    const parts: string[] = [];
    for (const file of ['jobs.log', 'daemon.log', 'bacula-dir.out', 'bacula-sd.out', 'bacula-fd.out']) {
      const text = await readFile(join(this.dir, file), 'utf8').catch(() => '');
      if (text) parts.push(`--- ${file}\n${text.slice(-4000)}`);
    }
    return parts.join('\n');
  }

  /** Stops the three daemons (SIGTERM, then SIGKILL) and removes the site. */
  async destroy(): Promise<void> {
    await Promise.all(
      this.#children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        if ((await Promise.race([exited.then(() => true), delay(5000).then(() => false)])) === false) child.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}
