// One real server shared by a test file that drives the hooks through the CLI: a sandbox per test,
// `pre` that must succeed, and a count of the server backends holding a backup.
import assert from 'node:assert/strict';
import { after, before, type TestContext } from 'node:test';
import { TestCluster, testMajors } from '../harness/index.js';
import { CliSandbox, explain, type CliRun } from './cli-helpers.js';

/** PostgreSQL 15 when selected (the Debian server), else the newest selected. */
export const HOOK_MAJOR = testMajors().includes(15) ? 15 : Math.max(...testMajors());

/** The server log line of a backup aborted because its session ended. */
export const ABORT_WARNING = /aborting backup due to backend exiting before pg_(backup_stop|stop_backup) was called/;

/** What {@link useHookCluster} gives a test file. */
export interface HookFixture {
  readonly cluster: TestCluster;
  /** A URI with a password (trust auth ignores it), to prove it never shows up anywhere. */
  readonly dbname: string;
  sandbox(t: TestContext): Promise<CliSandbox>;
  /** `pre --fast --json` with the fixture's server and the sandbox's sink; asserts exit 0. */
  pre(box: CliSandbox, id: string, ...extra: string[]): Promise<CliRun & { pid: number }>;
  /** Server backends whose application_name names backup `id`. */
  backends(id: string): Promise<number>;
}

/** Starts the server before the file's tests and destroys it after. Call at the top of a describe. */
export function useHookCluster(): HookFixture {
  let cluster: TestCluster | undefined;
  before(async () => {
    cluster = await TestCluster.start({ major: HOOK_MAJOR });
  });
  after(async () => {
    await cluster?.destroy();
  });
  const fixture: HookFixture = {
    get cluster() {
      return cluster!;
    },
    get dbname() {
      return `postgresql://postgres:hunter2@${cluster!.host}:${cluster!.port}/postgres`;
    },
    async sandbox(t) {
      const box = await CliSandbox.create();
      t.after(() => box.destroy());
      return box;
    },
    async pre(box, id, ...extra) {
      const run = await box.run(['pre', '--id', id, '--sink', box.sink(), '--dbname', fixture.dbname, '--fast', '--json', ...extra]);
      assert.equal(run.code, 0, explain(run));
      assert.equal(run.json?.ok, true, explain(run));
      return { ...run, pid: run.json!.pid as number };
    },
    async backends(id) {
      const rows = await cluster!.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [`pg-split-backup ${id}`]);
      return rows[0]!.n;
    },
  };
  return fixture;
}
