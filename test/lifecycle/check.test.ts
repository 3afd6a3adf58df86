// `check` against real servers: a healthy chain passes end to end (a WAL switch read back from the
// archive, encrypted), and each way the chain can be broken fails its own check with its own code,
// while the other checks still report. PostgreSQL 10 (no restore_command setting, pg_start_backup)
// and the smoke major; the broken chains on the smoke major only.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { archivePushCommand, checkChain, FilesystemSummaryStore, Keyring, openWalArchive, quoteConfValue, quoteForShell, type CheckReport } from '../../src/index.js';
import { S3SummaryStore } from '../../src/stores/s3.js';
import { sampleSummary } from '../../src/testing/index.js';
import { chownToServerUser, smokeMajor, testMajors, TestCluster } from '../harness/index.js';
import { run, type CommandResult } from '../harness/os-user.js';
import { PGSB_PROGRAM } from '../harness/wal-archive.js';

const explain = (r: CommandResult): string => `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const status = (report: CheckReport): Record<string, string> => Object.fromEntries(report.checks.map((c) => [c.name, c.status === 'failed' ? `failed ${c.code}` : c.status]));
const ALL_OK = { connection: 'ok', privileges: 'ok', wal_level: 'ok', archive_mode: 'ok', archive_command: 'ok', restore_command: 'skipped', store: 'ok', store_cluster: 'ok', wal_switch: 'ok', archive_cluster: 'ok' };

async function setUp(major: number, name: string): Promise<{ cluster: TestCluster; work: string; wal: string; keyFile: string; keyring: Keyring }> {
  const work = await mkdtemp(join(tmpdir(), `pgsb-check-${major}-`));
  await chmod(work, 0o755);
  const wal = join(work, 'wal');
  await mkdir(wal);
  const key = Buffer.alloc(32, 3);
  const keyFile = join(work, 'wal.key');
  await writeFile(keyFile, `${key.toString('base64')}\n`, { mode: 0o600 });
  await chownToServerUser(wal);
  await chownToServerUser(keyFile);
  const line = archivePushCommand(wal, { program: PGSB_PROGRAM, compress: 'gzip', encryptionKeyFiles: [keyFile] });
  const cluster = await TestCluster.start({ major, name, walSegmentSizeMb: major >= 11 ? 1 : undefined, settings: { archive_command: quoteConfValue(line) } });
  return { cluster, work, wal, keyFile, keyring: Keyring.fromKeys([key]) };
}

for (const major of [...new Set([10, smokeMajor()])].filter((m) => testMajors().includes(m))) {
  test(`PostgreSQL ${major}: a healthy chain passes every check, the switched segment read back decrypted and decompressed; the CLI exits 0`, async () => {
    const { cluster, work, wal, keyFile, keyring } = await setUp(major, `check-ok${major}`);
    try {
      const store = new FilesystemSummaryStore({ directory: join(work, 'summaries'), encryption: { keyring } });
      const report = await checkChain({ connection: cluster.connectionString, store, walArchive: await openWalArchive(wal, { encryption: { keyring } }), walArchiveUrl: wal });
      assert.deepEqual(status(report), { ...ALL_OK, store_cluster: 'ok' }, JSON.stringify(report, null, 2));
      assert.equal(report.ok, true);
      assert.match(report.checks.find((c) => c.name === 'archive_cluster')!.detail, /\.gz read back \(gzip\), a whole segment of cluster \d+/);
      const r = await run('sh', ['-c', [PGSB_PROGRAM, 'check', '--store', join(work, 'summaries'), '--wal-archive', wal, '--dbname', cluster.connectionString, '--encryption-key-file', keyFile, '--json'].map((w, i) => (i === 0 ? w : quoteForShell(w))).join(' ')]);
      assert.equal(r.code, 0, explain(r));
      assert.equal(JSON.parse(r.stdout).ok, true);
    } finally {
      await cluster.destroy();
      await rm(work, { recursive: true, force: true });
    }
  });
}

describe(`PostgreSQL ${smokeMajor()}: each broken link fails its own check with its own code`, () => {
  let f: Awaited<ReturnType<typeof setUp>>;
  before(async () => {
    f = await setUp(smokeMajor(), 'check-broken');
    await f.cluster.createRole('check_weak', { login: true });
  });
  after(async () => {
    await f?.cluster.destroy();
    await rm(f.work, { recursive: true, force: true });
  });
  const store = (): FilesystemSummaryStore => new FilesystemSummaryStore({ directory: join(f.work, 'summaries'), encryption: { keyring: f.keyring } });
  const archive = (): ReturnType<typeof openWalArchive> => openWalArchive(f.wal, { encryption: { keyring: f.keyring } });

  test('archive_command pointing at another archive, and not ours at all: ARCHIVE_COMMAND_MISMATCH, no switch', async () => {
    const other = await checkChain({ connection: f.cluster.connectionString, store: store(), walArchive: await archive(), walArchiveUrl: '/somewhere/else' });
    assert.deepEqual(status(other), { ...ALL_OK, archive_command: 'failed ARCHIVE_COMMAND_MISMATCH', wal_switch: 'skipped', archive_cluster: 'skipped' });
    await f.cluster.setSettings({ archive_command: 'cp %p /tmp/nowhere/%f' });
    try {
      const cp = await checkChain({ connection: f.cluster.connectionString, store: store(), walArchive: await archive(), walArchiveUrl: f.wal });
      assert.equal(status(cp).archive_command, 'failed ARCHIVE_COMMAND_MISMATCH');
      assert.match(cp.checks.find((c) => c.name === 'archive_command')!.detail, /archive-config prints the line/);
    } finally {
      await f.cluster.query('ALTER SYSTEM RESET archive_command');
      await f.cluster.reload();
    }
  });

  test('a role without the backup functions: PRIVILEGE; the rest still reported', async () => {
    const report = await checkChain({ connection: f.cluster.connectionStringFor('check_weak'), store: store(), walArchive: await archive(), walArchiveUrl: f.wal });
    assert.equal(status(report).privileges, 'failed PRIVILEGE');
    assert.match(report.checks.find((c) => c.name === 'privileges')!.detail, /GRANT EXECUTE ON FUNCTION .*pg_switch_wal\(\)/);
    assert.equal(status(report).store, 'ok');
    assert.equal(status(report).wal_switch, 'skipped');
  });

  test("a store of another cluster: SYSTEM_ID_MISMATCH; a store that does not answer: STORE_UNAVAILABLE", async () => {
    const foreign = new FilesystemSummaryStore({ directory: join(f.work, 'foreign') });
    await foreign.write(sampleSummary('someone-elses', { systemIdentifier: '1234567890123456789' }));
    const report = await checkChain({ connection: f.cluster.connectionString, store: foreign, walArchive: await archive(), walArchiveUrl: f.wal });
    assert.equal(status(report).store_cluster, 'failed SYSTEM_ID_MISMATCH');
    const down = new S3SummaryStore({ bucket: 'nobody', endpoint: 'http://127.0.0.1:9', forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, retry: { retries: 0 } });
    const unreachable = await checkChain({ connection: f.cluster.connectionString, store: down, walArchive: await archive(), walArchiveUrl: f.wal });
    assert.equal(status(unreachable).store, 'failed STORE_UNAVAILABLE');
    assert.equal(status(unreachable).store_cluster, 'skipped');
  });

  test('the segment never arrives: ARCHIVE_TIMEOUT; the archive read without its key: ENCRYPTION_KEY_MISSING', async () => {
    const keyless = await checkChain({ connection: f.cluster.connectionString, store: store(), walArchive: await openWalArchive(f.wal), walArchiveUrl: f.wal });
    assert.equal(status(keyless).archive_cluster, 'failed ENCRYPTION_KEY_MISSING');
    // "Ours" by its words, but it stores nothing (and fails, so the server keeps retrying).
    await f.cluster.setSettings({ archive_command: `false archive-push %p --archive ${f.wal}` });
    try {
      const stuck = await checkChain({ connection: f.cluster.connectionString, store: store(), walArchive: await archive(), walArchiveUrl: f.wal, archiveTimeoutMs: 1500 });
      assert.equal(status(stuck).wal_switch, 'failed ARCHIVE_TIMEOUT');
      assert.equal(status(stuck).archive_cluster, 'skipped');
      // The CLI: exit 8, every check printed.
      const r = await run('sh', ['-c', [PGSB_PROGRAM, ...['check', '--store', join(f.work, 'summaries'), '--wal-archive', f.wal, '--dbname', f.cluster.connectionString, '--archive-timeout', '1s', '--encryption-key-file', f.keyFile].map(quoteForShell)].join(' ')]);
      assert.equal(r.code, 8, explain(r));
      assert.match(r.stderr, /FAILED  wal_switch +ARCHIVE_TIMEOUT: /);
      assert.match(r.stderr, /ok      wal_level/);
      // The same stall as metrics: the switched segment waits, archive_command keeps failing.
      const metrics = await infoProm();
      assert.ok(Number(/^pgsb_archive_lag_segments\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]) >= 1, metrics);
      assert.ok(Number(/^pgsb_archive_failed_count\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]) >= 1, metrics);
      assert.match(metrics, /^pgsb_archive_last_failed_timestamp_seconds\{system_identifier="\d+"\} \d/m);
    } finally {
      await f.cluster.query('ALTER SYSTEM RESET archive_command');
      await f.cluster.reload();
    }
    // Archiving again: the lag drains to 0.
    const deadline = Date.now() + 30_000;
    let lag = '';
    while (Date.now() < deadline && lag !== '0') {
      lag = /^pgsb_archive_lag_segments\{[^}]*\} (\d+)$/m.exec(await infoProm())?.[1] ?? '';
      if (lag !== '0') await new Promise((resolve) => setTimeout(resolve, 300));
    }
    assert.equal(lag, '0');
  });
  const infoProm = async (): Promise<string> => {
    const r = await run('sh', ['-c', [PGSB_PROGRAM, ...['info', '--store', join(f.work, 'summaries'), '--format', 'prometheus', '--dbname', f.cluster.connectionString, '--encryption-key-file', f.keyFile].map(quoteForShell)].join(' ')]);
    assert.equal(r.code, 0, explain(r));
    assert.match(r.stdout, /^pgsb_up 1$/m);
    return r.stdout;
  };
});
