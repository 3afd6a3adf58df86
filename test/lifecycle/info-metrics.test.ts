// `info --format prometheus`: the report as node_exporter's textfile format, checked line by line
// (valid exposition syntax, one HELP/TYPE per family, the values the report holds), and the hard
// --timeout: a store that accepts connections and never answers gives `pgsb_up 0`, exit 0.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backupInfo, drillMetrics, FilesystemSummaryStore, infoMetrics, infoMetricsDown, openWalArchive, quoteForShell } from '../../src/index.js';
import { run, type CommandResult } from '../harness/os-user.js';
import { PGSB_PROGRAM } from '../harness/wal-archive.js';
import { parseExposition as parse } from './exposition.js';
import { fillDirectory, segmentNames, writeSummaries } from './fixtures.js';

const explain = (r: CommandResult): string => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

let work: string;
let storeDir: string;
let walDir: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgsb-metrics-'));
  storeDir = join(work, 'summaries');
  walDir = join(work, 'wal');
  await mkdir(walDir);
  // Backups at segments 2-3, 12-13, 22-23; the archive from 2 to 30 without 15: the middle
  // backup restores, the window is cut at the hole.
  await writeSummaries(new FilesystemSummaryStore({ directory: storeDir }), 3);
  await fillDirectory(walDir, segmentNames(1, 2, 30, [15]));
});
after(() => rm(work, { recursive: true, force: true }));

describe('info as Prometheus metrics', () => {
  test('the families and values of a report: backups, ages, the window, gaps', async () => {
    const report = await backupInfo({ store: new FilesystemSummaryStore({ directory: storeDir }), walArchive: await openWalArchive(walDir) });
    const now = new Date('2026-11-02T00:12:00.000Z');
    const families = parse(infoMetrics(report, { now, durationMs: 1234 }));
    const one = (name: string): { labels: string; value: number } => {
      const samples = families.get(name);
      assert.equal(samples?.length, 1, name);
      return samples![0]!;
    };
    assert.equal(one('pgsb_up').value, 1);
    assert.equal(one('pgsb_info_duration_seconds').value, 1.234);
    assert.equal(one('pgsb_unreadable_summaries').value, 0);
    const cluster = `{system_identifier="${report.clusters[0]!.systemIdentifier}"}`;
    assert.deepEqual(one('pgsb_backups'), { labels: cluster, value: 3 });
    const last = report.clusters[0]!.backups[2]!;
    assert.equal(one('pgsb_last_backup_timestamp_seconds').value, Date.parse(last.stoppedAt) / 1000);
    assert.equal(one('pgsb_last_backup_age_seconds').value, (now.getTime() - Date.parse(last.stoppedAt)) / 1000);
    assert.equal(one('pgsb_restorable_backups').value, 3);
    assert.equal(one('pgsb_recoverable').value, 1);
    assert.equal(one('pgsb_recoverable_window_cut').value, 1, 'the hole at segment 15 cuts the window');
    assert.equal(one('pgsb_recoverable_window_start_timestamp_seconds').value, Date.parse(report.clusters[0]!.backups[0]!.stoppedAt) / 1000);
    assert.match(one('pgsb_recoverable_window_end_timestamp_seconds').labels, /timeline="1"/);
    assert.deepEqual(one('pgsb_wal_archive_gaps'), { labels: '{timeline="1"}', value: 1 });
    assert.deepEqual(one('pgsb_wal_archive_segments'), { labels: '{timeline="1"}', value: 28 });
  });

  test('without an archive: only what the store tells; down: pgsb_up 0 with the error code; label values escaped', () => {
    const families = parse(infoMetrics({ store: 'x', clusters: [], unreadable: [{ id: 'a', reason: 'x' }] }));
    assert.deepEqual([...families.keys()], ['pgsb_up', 'pgsb_unreadable_summaries']);
    const down = parse(infoMetricsDown('ABORTED', { durationMs: 5000 }));
    assert.deepEqual(down.get('pgsb_up'), [{ labels: '', value: 0 }]);
    assert.deepEqual(down.get('pgsb_error_info'), [{ labels: '{code="ABORTED"}', value: 1 }]);
    assert.match(infoMetricsDown('A"B\\C\nD'), /code="A\\"B\\\\C\\nD"/);
  });

  test('drill metrics: a drill that failed before it had a report is success 0 with its code; the CLI writes the file on failure too', async () => {
    const failed = parse(drillMetrics('nightly', undefined, 'NOT_FOUND', { now: new Date(1_800_000_000_000) }));
    assert.deepEqual(failed.get('pgsb_drill_success'), [{ labels: '{id="nightly"}', value: 0 }]);
    assert.deepEqual(failed.get('pgsb_drill_timestamp_seconds'), [{ labels: '{id="nightly"}', value: 1_800_000_000 }]);
    assert.deepEqual(failed.get('pgsb_drill_error_info'), [{ labels: '{id="nightly",code="NOT_FOUND"}', value: 1 }]);
    const file = join(work, 'drill.prom');
    const r = await run('sh', ['-c', [PGSB_PROGRAM, ...['drill', '--id', 'no-such-backup', '--store', storeDir, '--pgdata', join(work, 'no-copy'), '--bin-dir', '/nonexistent', '--metrics-file', file].map(quoteForShell)].join(' ')], { cwd: work });
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, /INVALID_OPTION: The data copy .* cannot be read: ENOENT/);
    const metrics = await readFile(file, 'utf8');
    assert.match(metrics, /^pgsb_drill_success\{id="no-such-backup"\} 0$/m);
    assert.match(metrics, /^pgsb_drill_error_info\{id="no-such-backup",code="INVALID_OPTION"\} 1$/m);
  });

  describe('through the CLI', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    let port = 0;
    before(async () => {
      // Accepts and never answers: what a hung S3 endpoint looks like.
      silent = createServer((socket) => void sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      port = (silent.address() as { port: number }).port;
    });
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const cli = (args: string[]): Promise<CommandResult> =>
      run('sh', ['-c', [PGSB_PROGRAM, ...args.map(quoteForShell)].join(' ')], { cwd: work, env: { ...process.env, AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1' } });

    test('info --format prometheus prints the metrics, exit 0', async () => {
      const r = await cli(['info', '--store', storeDir, '--wal-archive', walDir, '--format', 'prometheus']);
      assert.equal(r.code, 0, explain(r));
      const families = parse(r.stdout);
      assert.deepEqual(families.get('pgsb_up'), [{ labels: '', value: 1 }]);
      assert.equal(families.get('pgsb_backups')![0]!.value, 3);
    });

    test('--timeout against a store that never answers: pgsb_up 0 and exit 0 (the textfile is replaced), instead of hanging', async () => {
      const r = await cli(['info', '--store', `s3://summaries/p?endpoint=http://127.0.0.1:${port}&forcePathStyle=true&region=us-east-1`, '--format', 'prometheus', '--timeout', '1s']);
      assert.equal(r.code, 0, explain(r));
      const families = parse(r.stdout);
      assert.deepEqual(families.get('pgsb_up'), [{ labels: '', value: 0 }]);
      assert.deepEqual(families.get('pgsb_error_info'), [{ labels: '{code="ABORTED"}', value: 1 }]);
      assert.ok(sockets.size >= 1, 'the request reached the silent server');
      // Text output fails instead.
      const t = await cli(['info', '--store', `s3://summaries/p?endpoint=http://127.0.0.1:${port}&forcePathStyle=true&region=us-east-1`, '--timeout', '1s', '--json']);
      assert.equal(t.code, 1, explain(t));
      assert.equal(JSON.parse(t.stdout).error.code, 'ABORTED');
    });

    test('bad input still exits 2: --format xml, --format prometheus with --json, a bad --timeout', async () => {
      for (const args of [['--format', 'xml'], ['--format', 'prometheus', '--json'], ['--format', 'prometheus', '--timeout', 'soon']]) {
        const r = await cli(['info', '--store', storeDir, ...args]);
        assert.equal(r.code, 2, `${args.join(' ')}\n${explain(r)}`);
      }
    });
  });
});
