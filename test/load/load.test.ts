// Load and concurrency (issue #5) through the CLI, with real processes against one real server:
// 50 backups at once with distinct IDs, and a soak of pre/post cycles under pgbench.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { FilesystemSummaryStore } from '../../src/stores/filesystem.js';
import { clientBin } from '../harness/index.js';
import { explain, waitFor, type CliRun } from '../cli/cli-helpers.js';
import { HOOK_MAJOR, useHookCluster } from '../cli/hook-fixture.js';

const CONCURRENT = 50;
// 30 cycles show a leak of a process, socket, lock or backend (each cycle would leave one) and
// holder memory growth (first 10 against last 10); PGSB_SOAK_CYCLES=500 for a longer soak.
const CYCLES = Number(process.env.PGSB_SOAK_CYCLES ?? 30);

/** Resident memory of a process in KiB (0 once it is gone). */
function rssKiB(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe(`load on PostgreSQL ${HOOK_MAJOR}`, () => {
  const hooks = useHookCluster();

  async function holdingBackends(): Promise<number> {
    const rows = await hooks.cluster.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pg-split-backup %'");
    return rows[0]!.n;
  }

  test(`${CONCURRENT} concurrent backups with distinct IDs: all succeed, each summary's label is its own ID, no answer crosses to another socket`, async (t) => {
    const box = await hooks.sandbox(t);
    const ids = Array.from({ length: CONCURRENT }, (_, i) => `load-${String(i).padStart(2, '0')}`);
    const pres = await Promise.all(ids.map((id) => box.run(['pre', '--id', id, '--sink', box.sink(), '--dbname', hooks.dbname, '--fast', '--json'])));
    for (const [i, run] of pres.entries()) {
      assert.equal(run.code, 0, explain(run));
      assert.equal(run.json!.id, ids[i]);
    }
    assert.equal(await holdingBackends(), CONCURRENT);
    const status = await box.run(['status', '--json']);
    assert.deepEqual(status.json!.backups.map((b: { id: string }) => b.id).sort(), ids);

    const posts: CliRun[] = await Promise.all(ids.map((id) => box.run(['post', '--id', id, '--json'])));
    const store = new FilesystemSummaryStore({ directory: box.sink() });
    for (const [i, run] of posts.entries()) {
      const id = ids[i]!;
      assert.equal(run.code, 0, explain(run));
      assert.equal(run.json!.id, id);
      const summary = await store.get(id);
      assert.match(summary.labelFile, new RegExp(`^LABEL: ${id}$`, 'm'));
      // Its own holder answered: the start pre saw and the stop post saw are this summary's.
      assert.equal(summary.startLsn, pres[i]!.json!.startLsn);
      assert.equal(summary.stopLsn, run.json!.stopLsn);
    }
    assert.deepEqual(await store.list(), ids);
    assert.ok(await waitFor(() => box.processes().length === 0, 15_000), `holders left: ${box.processes().join(' ')}`);
    assert.equal(await holdingBackends(), 0);
    assert.deepEqual((await box.runtimeFiles()).filter((f) => !f.endsWith('.log') && !f.endsWith('.json')), []);
  });

  test(`soak: ${CYCLES} pre/post cycles under pgbench leak no process, socket, lock, spool file or server backend, and holder memory does not grow`, async (t) => {
    const box = await hooks.sandbox(t);
    const { cluster } = hooks;
    const init = await cluster.client('pgbench', ['-i', '-q', '-s', '2', 'postgres']);
    assert.equal(init.code, 0, init.stderr);
    const connectionsBefore = (await cluster.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = $1', ['client backend']))[0]!.n;
    const load = spawn(clientBin('pgbench'), ['-h', cluster.host, '-p', String(cluster.port), '-U', cluster.user, '-n', '-c', '2', '-T', '3600', 'postgres'], { stdio: 'ignore' });
    const loadEnded = new Promise((resolve) => load.on('close', resolve));
    t.after(async () => {
      load.kill('SIGINT');
      await loadEnded;
    });

    const rss: number[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const id = `soak-${String(cycle).padStart(3, '0')}`;
      const pre = await box.run(['pre', '--id', id, '--sink', box.sink(), '--dbname', hooks.dbname, '--fast', '--json']);
      assert.equal(pre.code, 0, explain(pre));
      rss.push(rssKiB(pre.json!.pid as number));
      const post = await box.run(['post', '--id', id, '--json']);
      assert.equal(post.code, 0, explain(post));
    }
    assert.equal(load.exitCode, null, 'pgbench ran through the whole soak');

    assert.ok(await waitFor(() => box.processes().length === 0, 15_000), `holders left: ${box.processes().join(' ')}`);
    assert.equal(await holdingBackends(), 0);
    const files = await box.runtimeFiles();
    assert.deepEqual(files.filter((f) => f.endsWith('.sock') || f.endsWith('.lock')), []);
    assert.equal(files.filter((f) => f.endsWith('.json')).length, CYCLES);
    assert.deepEqual(await readdir(box.spoolDir).catch(() => []), []);
    assert.equal((await new FilesystemSummaryStore({ directory: box.sink() }).list()).length, CYCLES);
    const connectionsAfter = (await cluster.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = $1', ['client backend']))[0]!.n;
    assert.equal(connectionsAfter, connectionsBefore + 2, 'only pgbench’s two clients were added');
    // Every cycle is a new holder: the last ones must weigh what the first ones did.
    const first = median(rss.slice(0, 10));
    const last = median(rss.slice(-10));
    t.diagnostic(`holder RSS: first 10 cycles median ${first} KiB, last 10 ${last} KiB`);
    assert.ok(first > 0 && last <= first * 1.2, `holder RSS grew from ${first} KiB to ${last} KiB`);
  });
});
