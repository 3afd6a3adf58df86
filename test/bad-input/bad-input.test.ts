// The bad-input table (issue 5): every row is a real CLI run (or, where argv cannot carry the
// input, the CLI's own runCli in-process or a library call) that must get its stable code and exit
// code and change nothing: no holder left, no file created or touched in the runtime dir, sinks,
// spool or data directory, no backup session or replication slot left on the server.
import assert from 'node:assert/strict';
import { appendFile, chmod, chown, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { assertBackupId, BackupSession, FilesystemSummaryStore, isBackupError } from '../../src/index.js';
import { runCli as runCliInProcess } from '../../src/cli/main.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { binDirFor, chownToServerUser, runOk, serverUser, startStandby, takeSplitBackup, TestCluster, untarDataDirectory } from '../harness/index.js';
import { CliSandbox, explain, ROOT, waitFor, type CliRun } from '../cli/cli-helpers.js';
import { contentSnapshot, docsTable, snapshot, type BadInputCase, type Group, type Outcome } from './cases.js';

// One major for every case: they test input handling, not dialects. 15 is the machine's own server
// (always installed), and new enough to say why a standby with hot_standby=off refuses (14+).
const MAJOR = 15;
// A second major for "wrong major": only its initdb runs.
const OTHER_MAJOR = 16;
// Every password given below: no output may ever show it.
const SECRET = 'Marker-Pw-7731';
const NO_SERVER = `postgresql://nobody:${SECRET}@127.0.0.1:1/postgres`;

interface Fixture {
  box: CliSandbox;
  cluster: TestCluster;
  standby: TestCluster;
  /** A real split backup's summary store, its data copy, and refusal fixtures. */
  store: string;
  pgdata: string;
  tablespace: string;
  corruptJsonStore: string;
  tamperedLabelStore: string;
  otherClusterData: string;
  otherMajorData: string;
  /** The ID of a backup taken after RESTORE_ID's copy was made: the copy is not its. */
  laterId: string;
  /** f.pgdata as a copy that followed the tablespace symlink (`tar --dereference`). */
  derefData: string;
  emptyArchive: string;
}
const f = {} as Fixture;
const RESTORE_ID = 'bi-restore';

interface Case extends BadInputCase {
  run(): Promise<Outcome>;
}

function fromCli(run: CliRun): Outcome {
  return { code: run.json?.error?.code, exit: run.code, text: `${explain(run)}` };
}

/** `pg-split-backup ...args --json` in the sandbox. */
async function cli(args: string[], options: Parameters<CliSandbox['run']>[1] = {}): Promise<Outcome> {
  return fromCli(await f.box.run([...args, '--json'], options));
}

/**
 * `--format prometheus` excludes `--json`: the code from stderr (`pg-split-backup CMD: CODE: message`),
 * and the message must be `why`, not some other refusal.
 */
async function prometheus(args: string[], why: RegExp): Promise<Outcome> {
  const run = await f.box.run([...args, '--format', 'prometheus']);
  assert.match(run.stderr, why, explain(run));
  return { code: /^pg-split-backup [a-z-]+: ([A-Z_]+): /m.exec(run.stderr)?.[1], exit: run.code, text: explain(run) };
}

/** The CLI's own entry point in-process, for input argv cannot carry (a NUL byte). */
async function cliInProcess(args: string[]): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const exit = await runCliInProcess([...args, '--json', '--runtime-dir', f.box.runtimeDir], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  const json = JSON.parse(stdout) as { error?: { code?: string } };
  return { code: json.error?.code, exit, text: stdout + stderr };
}

/** A library call that must throw a BackupError; its exit is what the CLI would map it to. */
async function library(call: () => unknown): Promise<Outcome> {
  try {
    await call();
  } catch (error) {
    return { code: isBackupError(error) ? error.code : undefined, exit: exitCodeFor(error), text: String((error as Error).message) };
  }
  return { code: undefined, exit: 0, text: 'did not throw' };
}

const sink = (): string => f.box.sink();
const pre = (id: string, more: string[] = []): string[] => ['pre', `--id=${id}`, '--sink', sink(), '--dbname', NO_SERVER, ...more];
const restore = (more: string[], id = RESTORE_ID, store = f.store): string[] => ['restore', '--id', id, '--store', store, ...more];

const CASES: Case[] = [];
function add(group: Group, input: string, code: string, exit: number, run: () => Promise<Outcome>): void {
  CASES.push({ group, input, code, exit, run });
}

// --- IDs: checked before any connection or file.
add('none', 'pre: empty ID (`--id=`)', 'INVALID_OPTION', 2, () => cli(pre('')));
add('none', 'pre: ID of 201 characters', 'INVALID_ID', 2, () => cli(pre('x'.repeat(201))));
add('none', 'pre: ID `a..b`', 'INVALID_ID', 2, () => cli(pre('a..b')));
add('none', 'pre: ID `a/b`', 'INVALID_ID', 2, () => cli(pre('a/b')));
add('none', 'pre: ID with a newline', 'INVALID_ID', 2, () => cli(pre('a\nb')));
add('none', 'pre: ID with a NUL byte (runCli in-process: argv cannot carry NUL)', 'INVALID_ID', 2, () => cliInProcess(pre('a\0b')));
add('none', 'library: assertBackupId with a NUL byte', 'INVALID_ID', 2, () => library(() => assertBackupId('nightly\0x')));
add('none', 'pre: unicode ID `bäckup`', 'INVALID_ID', 2, () => cli(pre('bäckup')));
add('none', 'pre: ID with a leading `-`', 'INVALID_ID', 2, () => cli(pre('-x')));
add('none', 'post: ID `..`', 'INVALID_ID', 2, () => cli(['post', '--id', '..']));
add('none', 'abort: ID `a/b`', 'INVALID_ID', 2, () => cli(['abort', '--id', 'a/b']));
add('none', 'status: ID `.hidden`', 'INVALID_ID', 2, () => cli(['status', '--id', '.hidden']));
add('none', 'show: ID `../etc`', 'INVALID_ID', 2, () => cli(['show', '--id', '../etc', '--store', sink()]));
add('none', 'restore: ID `a/../b`', 'INVALID_ID', 2, () => cli(['restore', '--id', 'a/../b', '--store', sink(), '--pgdata', '/nonexistent']));
add('none', 'verify: ID with a space', 'INVALID_ID', 2, () => cli(['verify', '--id', 'a b', '--store', sink(), '--wal-archive', sink()]));

// --- URLs.
add('none', 'pre: sink with an unknown scheme `ftp://`', 'INVALID_URL', 2, () => cli(['pre', '--id', 'u1', '--sink', 'ftp://host/dir', '--dbname', NO_SERVER]));
add('none', 'pre: sink as a relative path', 'INVALID_URL', 2, () => cli(['pre', '--id', 'u2', '--sink', 'relative/dir', '--dbname', NO_SERVER]));
add('none', 'pre: sink `s3://` without a bucket', 'INVALID_URL', 2, () => cli(['pre', '--id', 'u3', '--sink', 's3://', '--dbname', NO_SERVER]));
add('none', 'pre: sink with an unknown query key', 'INVALID_URL', 2, () => cli(['pre', '--id', 'u4', '--sink', 's3://bucket/p?nope=1', '--dbname', NO_SERVER]));
add('none', 'list: store with an unknown scheme', 'INVALID_URL', 2, () => cli(['list', '--store', 'gopher://x/y']));
add('none', 'show: store as a relative path', 'INVALID_URL', 2, () => cli(['show', '--id', 'x', '--store', 'summaries']));
add('none', 'verify: WAL archive `s3://` without a bucket', 'INVALID_URL', 2, () => cli(['verify', '--id', 'x', '--store', sink(), '--wal-archive', 's3://']));
add('none', 'pre: sink `file:sum` (a relative path in a file URL)', 'INVALID_URL', 2, () => cli(['pre', '--id', 'u5', '--sink', 'file:sum', '--dbname', NO_SERVER]));
add('none', 'restore: store `file://` naming a host', 'INVALID_URL', 2, () => cli(['restore', '--id', 'x', '--store', 'file://host/dir', '--pgdata', '/nonexistent']));

// --- Connection strings: malformed is bad input (2, nothing tried); well-formed but failing is
// CONNECTION_FAILED, exit 1 by the decision in docs/hooks.md (a retrying backup program should retry).
add('none', 'pre: `--dbname` with a non-numeric port', 'INVALID_OPTION', 2, () => cli(pre('c1', []).map((a) => (a === NO_SERVER ? `postgresql://u:${SECRET}@127.0.0.1:abc/postgres` : a))));
add('none', 'pre: `--dbname` with a port out of range', 'INVALID_OPTION', 2, () => cli(pre('c2').map((a) => (a === NO_SERVER ? `postgresql://u:${SECRET}@127.0.0.1:99999/postgres` : a))));
add('none', 'pre: `--dbname` URI with an unclosed `[`', 'INVALID_OPTION', 2, () => cli(pre('c3').map((a) => (a === NO_SERVER ? `postgresql://u:${SECRET}@[::1/postgres` : a))));
add('none', 'pre: `--dbname` as key=value conninfo', 'INVALID_OPTION', 2, () => cli(pre('c4').map((a) => (a === NO_SERVER ? `host=x password=${SECRET}` : a))));
add('none', 'pre: `--dbname` with a host that does not resolve', 'CONNECTION_FAILED', 1, async () => {
  const out = await cli(pre('c5').map((a) => (a === NO_SERVER ? `postgresql://u:${SECRET}@no-such-host.invalid:5432/postgres` : a)));
  assert.match(out.text, /Could not connect to PostgreSQL at u@no-such-host\.invalid:5432\/postgres: .*no-such-host\.invalid/);
  return out;
});
add('none', 'pre: `--dbname` with a closed port (server unreachable)', 'CONNECTION_FAILED', 1, async () => {
  const out = await cli(pre('c6'));
  assert.match(out.text, /Could not connect to PostgreSQL at nobody@127\.0\.0\.1:1\/postgres: .*ECONNREFUSED/);
  return out;
});
add('none', 'pre: a server that accepts TCP but never answers (bounded retries)', 'CONNECTION_FAILED', 1, async () => {
  // A black hole: each attempt waits out the connect timeout, and there are a bounded number of them.
  const sockets: Socket[] = [];
  const silent = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as AddressInfo).port;
  try {
    // connect_timeout=2 (libpq's, in seconds) instead of the 30 s default keeps this case short.
    const out = await cli(pre('c8').map((a) => (a === NO_SERVER ? `postgresql://u:${SECRET}@127.0.0.1:${port}/postgres?connect_timeout=2` : a)));
    assert.equal(sockets.length, 4, 'one attempt and three retries (connectRetries default), then it gives up');
    assert.match(out.text, new RegExp(`Could not connect to PostgreSQL at u@127\\.0\\.0\\.1:${port}/postgres: .*timeout`, 'i'));
    return out;
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
add('none', 'pre: `--dbname` with `connect_timeout=soon` (libpq takes whole seconds)', 'INVALID_OPTION', 2, () =>
  cli(pre('c9').map((a) => (a === NO_SERVER ? 'postgresql://u@127.0.0.1:1/postgres?connect_timeout=soon' : a))),
);
add('server', 'pre: wrong password (tried once, not retried)', 'CONNECTION_FAILED', 1, async () => {
  const failures = async (): Promise<number> => ((await f.cluster.log()).match(/password authentication failed for user "pwuser"/g) ?? []).length;
  const before = await failures();
  const out = await cli(['pre', '--id', 'c7', '--sink', sink(), '--dbname', `postgresql://pwuser:${SECRET}@127.0.0.1:${f.cluster.port}/postgres`]);
  assert.equal((await failures()) - before, 1, 'a wrong password is not transient: one attempt only');
  assert.match(out.text, /Could not connect to PostgreSQL at pwuser@127\.0\.0\.1:\d+\/postgres/);
  return out;
});

// --- Server settings and privileges.
add('server', 'pre: role without EXECUTE on the backup functions', 'PRIVILEGE', 2, () => cli(['pre', '--id', 's1', '--sink', sink(), '--dbname', f.cluster.connectionStringFor('noexec')]));
add('server', 'pre: an ID whose summary a sink already holds', 'ALREADY_EXISTS', 2, () => cli(['pre', '--id', RESTORE_ID, '--sink', f.store, '--dbname', f.cluster.connectionString]));
add('standby', 'pre: a standby with `hot_standby=off`', 'SERVER_SETTING', 2, () => cli(['pre', '--id', 's2', '--sink', sink(), '--dbname', f.standby.connectionString]));
add('settings', 'pre: `archive_mode=off` without `--include-wal`', 'SERVER_SETTING', 2, async () => {
  await f.cluster.setSettings({ archive_mode: 'off' }, { restart: true });
  return cli(['pre', '--id', 's3', '--sink', sink(), '--dbname', f.cluster.connectionString]);
});
add('settings', 'pre: `wal_level=minimal`', 'SERVER_SETTING', 2, async () => {
  await f.cluster.setSettings({ wal_level: 'minimal', max_wal_senders: '0', archive_mode: 'off' }, { restart: true });
  return cli(['pre', '--id', 's4', '--sink', sink(), '--dbname', f.cluster.connectionString, '--include-wal']);
});

// --- Restore refusals (a real split backup with a tablespace; docs/restore.md).
add('restore', 'restore: the data copy of another cluster', 'LABEL_MISMATCH', 2, () => cli(restore(['--pgdata', f.otherClusterData, '--wal-archive', f.cluster.archiveDir])));
add('restore', 'restore: a data copy of another major', 'LABEL_MISMATCH', 2, () => cli(restore(['--pgdata', f.otherMajorData, '--wal-archive', f.cluster.archiveDir])));
add('restore', 'restore: into the live server’s data directory', 'DATA_DIR_IN_USE', 2, async () => {
  const out = await cli(restore(['--pgdata', f.cluster.dataDir, '--wal-archive', f.cluster.archiveDir]));
  for (const file of ['backup_label', 'tablespace_map', 'recovery.signal', 'standby.signal']) assert.ok(!existsSync(join(f.cluster.dataDir, file)), `${file} was written`);
  return out;
});
add('restore', 'restore: a file that is not WAL in `pg_wal/`', 'RESTORE_CONFLICT', 2, async () => {
  const foreign = join(f.pgdata, 'pg_wal', 'notes.txt');
  await writeFile(foreign, 'not WAL');
  try {
    const before = await snapshot(f.pgdata);
    const out = await cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir]));
    assert.deepEqual(await snapshot(f.pgdata), before);
    return out;
  } finally {
    await rm(foreign);
  }
});
add('restore', 'restore: another backup’s `backup_label` in the data copy', 'RESTORE_CONFLICT', 2, async () => {
  const label = join(f.pgdata, 'backup_label');
  await writeFile(label, 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nLABEL: some-other-backup\n');
  try {
    const before = await snapshot(f.pgdata);
    const out = await cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir]));
    assert.deepEqual(await snapshot(f.pgdata), before);
    return out;
  } finally {
    await rm(label);
  }
});
add('restore', 'restore: `summary.json` that is not JSON', 'CORRUPT_SUMMARY', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir], RESTORE_ID, f.corruptJsonStore)));
add('restore', 'restore: a tampered `backup_label` (checksum fails)', 'CORRUPT_SUMMARY', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir], RESTORE_ID, f.tamperedLabelStore)));
add('restore', 'show: a tampered `backup_label` (checksum fails)', 'CORRUPT_SUMMARY', 2, () => cli(['show', '--id', RESTORE_ID, '--store', f.tamperedLabelStore]));
add('restore', 'verify: `summary.json` that is not JSON', 'CORRUPT_SUMMARY', 2, () => cli(['verify', '--id', RESTORE_ID, '--store', f.corruptJsonStore, '--wal-archive', f.cluster.archiveDir]));
add('restore', 'restore: a tablespace mapped to a directory that does not exist', 'INVALID_OPTION', 2, () =>
  cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--tablespace-mapping', `${f.tablespace}=/nonexistent/ts`])),
);
add('restore', 'restore: `--tablespace-mapping` for a tablespace the backup lacks', 'INVALID_OPTION', 2, () =>
  cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--tablespace-mapping', '/not/a/tablespace=/tmp'])),
);
add('restore', 'restore: an ID the store does not have', 'NOT_FOUND', 3, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir], 'no-such-backup')));
add('restore', 'restore: `--restore-command` and `--wal-archive` together', 'INVALID_OPTION', 2, () =>
  cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--restore-command', 'false'])),
);
add('restore', 'restore: `--target-lsn` that is not an LSN', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-lsn', 'soon'])));
add('restore', 'restore: `--target-timeline abc`', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-timeline', 'abc'])));
add('restore', 'restore: `--archive-mode maybe`', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--archive-mode', 'maybe'])));
add('restore', 'restore: `--target-timeline 9`, a timeline the archive has no history file of', 'TIMELINE_UNREACHABLE', 2, async () => {
  const before = await snapshot(f.pgdata);
  const out = await cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-timeline', '9']));
  assert.match(out.text, /no 00000009\.history/);
  assert.deepEqual(await snapshot(f.pgdata), before);
  return out;
});
add('restore', 'restore: a relative `--pgdata`', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', 'data', '--wal-archive', f.cluster.archiveDir])));
add('restore', 'restore: the data copy of an earlier backup (its checkpoint is before this backup’s window)', 'LABEL_MISMATCH', 2, async () => {
  const out = await cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir], f.laterId));
  assert.match(out.text, new RegExp(`looks like the copy of backup ${RESTORE_ID}`));
  return out;
});
add('restore', 'restore: a copy holding the tablespace in `pg_tblspc/` (dereferenced) whose location is not empty', 'RESTORE_CONFLICT', 2, () =>
  cli(restore(['--pgdata', f.derefData, '--wal-archive', f.cluster.archiveDir])),
);
add('restore', 'restore: an empty `--wal-archive` (the backup’s WAL is not there)', 'WAL_INCOMPLETE', 5, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.emptyArchive])));
add('restore', 'restore: a `--wal-archive` that does not exist', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', join(f.emptyArchive, 'nope')])));
add('restore', 'restore: `--no-verify` without `--wal-archive`', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--restore-command', 'false', '--no-verify'])));
add('restore', 'restore: `--target-time yesterday 3pm`', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-time', 'yesterday 3pm'])));
add('restore', 'restore: `--target-time 2026-13-45 25:61`', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-time', '2026-13-45 25:61'])));
add('restore', 'restore: `--target-time 2026-02-30 03:00:00+00` (no such day)', 'INVALID_OPTION', 2, () =>
  cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-time', '2026-02-30 03:00:00+00'])),
);
add('restore', 'restore: `--target-time` with an unknown time zone', 'INVALID_OPTION', 2, () =>
  cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-time', '2026-11-25 03:00 Mars/Olympus'])),
);
add('restore', 'restore: `--target-xid` that is not a number', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-xid', '12ab'])));
add('restore', 'restore: `--target-name` of 64 bytes', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-name', 'n'.repeat(64)])));
add('restore', 'restore: `--target-lsn` before the backup is consistent', 'INVALID_OPTION', 2, () => cli(restore(['--pgdata', f.pgdata, '--wal-archive', f.cluster.archiveDir, '--target-lsn', '0/1'])));

// --- Runtime directory.
add('none', 'pre: runtime dir writable by others (0707)', 'UNSAFE_RUNTIME_DIR', 2, () => cli(pre('r1'), { runtimeDir: join(f.box.base, 'open-rt') }));
add('none', 'post: runtime dir owned by another user', 'UNSAFE_RUNTIME_DIR', 2, async () => {
  const other = serverUser();
  // The suite runs as root in CI (the harness needs it to run PostgreSQL as another user).
  assert.ok(other !== undefined, 'needs root to chown a directory to another user');
  return cli(['post', '--id', 'r2'], { runtimeDir: join(f.box.base, 'foreign-rt') });
});
add('none', 'status: runtime dir that is a symlink', 'UNSAFE_RUNTIME_DIR', 2, () => cli(['status'], { runtimeDir: join(f.box.base, 'link-rt') }));

// --- Other flags, one per remaining command.
add('none', 'pre: `--max-hold forever`', 'INVALID_OPTION', 2, () => cli(pre('o1', ['--max-hold', 'forever'])));
add('none', 'list: an unknown flag', 'INVALID_OPTION', 2, () => cli(['list', '--store', sink(), '--bogus']));
add('none', 'excludes: `--format zip`', 'INVALID_OPTION', 2, () => cli(['excludes', '--format', 'zip']));
add('none', 'excludes: `--pg-major abc`', 'INVALID_OPTION', 2, () => cli(['excludes', '--pg-major', 'abc']));
add('none', 'archive-push: `--compress bzip2`', 'INVALID_OPTION', 2, () => cli(['archive-push', 'pg_wal/000000010000000000000001', '--archive', sink(), '--compress', 'bzip2']));
add('none', 'archive-push: a file that is not WAL (`postgresql.conf`)', 'INVALID_OPTION', 2, () => cli(['archive-push', 'postgresql.conf', '--archive', sink()]));
add('none', 'archive-push: archive with an unknown scheme', 'INVALID_URL', 2, () => cli(['archive-push', 'pg_wal/000000010000000000000001', '--archive', 'ftp://host/wal']));
add('none', 'archive-push: `--idle` without `--async`', 'INVALID_OPTION', 2, () => cli(['archive-push', 'pg_wal/000000010000000000000001', '--archive', sink(), '--idle', '5m']));
add('none', 'archive-config: `--async --idle 0`', 'INVALID_OPTION', 2, () => cli(['archive-config', '--archive', sink(), '--async', '--idle', '0']));
add('none', 'archive-get: WAL name `../etc/passwd`', 'INVALID_OPTION', 2, () => cli(['archive-get', '../etc/passwd', 'pg_wal/RECOVERYXLOG', '--archive', sink()]));
add('none', 'archive-get: without the destination argument', 'INVALID_OPTION', 2, () => cli(['archive-get', '000000010000000000000001', '--archive', sink()]));
add('none', 'keys: an unknown action (`keys rotate`)', 'INVALID_OPTION', 2, () => cli(['keys', 'rotate']));
add('none', 'keys generate: without `--output`', 'INVALID_OPTION', 2, () => cli(['keys', 'generate']));
add('none', 'archive-push: `--encryption-key-file` of mode 0644', 'KEY_FILE_INSECURE', 2, async () =>
  cli(['archive-push', 'pg_wal/000000010000000000000001', '--archive', sink(), '--encryption-key-file', await outsideKeyFile(0o644)]),
);
add('none', 'archive-get: `--encryption-key-file` of mode 0644 (exit 126: recovery stops)', 'KEY_FILE_INSECURE', 126, async () =>
  cli(['archive-get', '000000010000000000000001', 'pg_wal/RECOVERYXLOG', '--archive', sink(), '--prefetch', '0', '--encryption-key-file', await outsideKeyFile(0o644)]),
);
add('none', 'show: `--encryption-key-file` that holds no key', 'INVALID_KEY', 2, async () => cli(['show', '--id', 'x', '--store', sink(), '--encryption-key-file', await outsideKeyFile(0o600, 'not a key\n')]));
add('none', 'keys rewrap: neither `--store` nor `--wal-archive`', 'INVALID_OPTION', 2, async () => cli(['keys', 'rewrap', '--encryption-key-file', await outsideKeyFile(0o600)]));
add('none', 'post: an ID never started', 'NOT_FOUND', 3, () => cli(['post', '--id', 'never-started']));
add('none', 'abort: an ID never started', 'NOT_FOUND', 3, () => cli(['abort', '--id', 'never-started']));

// --- info --data-directory (the async pusher's queue): prometheus only, and a data directory.
add('none', 'info: `--data-directory` without `--format prometheus`', 'INVALID_OPTION', 2, () => cli(['info', '--store', sink(), '--data-directory', f.box.base]));
add('none', 'info: `--spool-dir` without `--data-directory`', 'INVALID_OPTION', 2, () => prometheus(['info', '--store', sink(), '--spool-dir', 'spool'], /--spool-dir goes with --data-directory/));
add('none', 'info: `--data-directory` that does not exist', 'INVALID_OPTION', 2, () => prometheus(['info', '--store', sink(), '--data-directory', join(f.box.base, 'no-such-data')], /does not exist/));
add('none', 'info: `--data-directory` that is not a data directory (no `pg_wal/archive_status`)', 'INVALID_OPTION', 2, () =>
  prometheus(['info', '--store', sink(), '--data-directory', sink()], /is not a PostgreSQL data directory: it has no .*pg_wal\/archive_status/),
);

/** A key file outside the watched sandbox (making it is not a change the refusal made). */
async function outsideKeyFile(mode: number, content = `${Buffer.alloc(32, 7).toString('base64')}\n`): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgsb-bad-key-'));
  const path = join(dir, 'key');
  await writeFile(path, content, { mode });
  await chmod(path, mode);
  return path;
}

/** Runs one case and checks its code, exit code and that nothing changed. */
async function check(c: Case): Promise<void> {
  const watched = [f.box.base];
  // Restore refusals are checked byte for byte (contents, modes, owners, link targets).
  const take = c.group === 'restore' ? contentSnapshot : snapshot;
  const before = await take(...watched);
  const out = await c.run();
  assert.equal(out.code, c.code, out.text);
  assert.equal(out.exit, c.exit, out.text);
  assert.ok(!out.text.includes(SECRET), `the password shows in:\n${out.text}`);
  if (c.code === 'INVALID_OPTION' && c.input.includes('--dbname')) assert.match(out.text, /--dbname/, 'the message names the option');
  assert.ok(await waitFor(() => f.box.processes().length === 0), `a holder lives on: ${f.box.processes().join(' ')}`);
  assert.deepEqual(await take(...watched), before, 'files changed');
  // The standby with hot_standby=off takes no connections at all, so only the primary can hold one.
  const cluster = f.cluster;
  if (cluster?.running === true) {
    // 15+ has no pg_is_in_backup(): a held backup is a session of ours, so none may remain, nor a slot.
    const clean = await waitFor(async () => {
      const [row] = await cluster.query<{ sessions: number; slots: number }>(
        "SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE application_name LIKE 'pg-split-backup%') AS sessions, (SELECT count(*)::int FROM pg_replication_slots) AS slots",
      );
      return row!.sessions === 0 && row!.slots === 0;
    });
    assert.ok(clean, `a backup session or slot is left on PostgreSQL ${cluster.major}`);
  }
}

function runGroup(group: Group): void {
  for (const c of CASES.filter((x) => x.group === group)) {
    test(`${c.input} → ${c.code}, exit ${c.exit}`, () => check(c));
  }
}

describe('bad input: refused with a stable code and exit code, nothing changed', () => {
  before(async () => {
    f.box = await CliSandbox.create();
    await mkdir(f.box.runtimeDir, { mode: 0o700 });
    await mkdir(f.box.sink(), { recursive: true });
    // The server user must reach the data directories made in here.
    await chmod(f.box.base, 0o755);
    // Unsafe runtime directories, made before any snapshot is taken.
    await mkdir(join(f.box.base, 'open-rt'));
    await chmod(join(f.box.base, 'open-rt'), 0o707);
    const other = serverUser();
    await mkdir(join(f.box.base, 'foreign-rt'), { mode: 0o700 });
    if (other !== undefined) await chown(join(f.box.base, 'foreign-rt'), other.uid, other.gid);
    await symlink(f.box.runtimeDir, join(f.box.base, 'link-rt'));
  });
  after(async () => {
    await f.box?.destroy();
  });

  test('every row of docs/errors.md "Bad input, tested" has a case with the same code and exit, and vice versa', async () => {
    const rows = docsTable(await readFile(join(ROOT, 'docs', 'errors.md'), 'utf8'));
    const fromDocs = rows.map((r) => `${r.input} → ${r.code} ${r.exit}`).sort();
    const fromSuite = CASES.map((c) => `${c.input} → ${c.code} ${c.exit}`).sort();
    assert.deepEqual(fromDocs, fromSuite);
    assert.ok(CASES.length >= 40, `${CASES.length} cases`);
  });

  describe('without a server', () => runGroup('none'));

  describe(`against PostgreSQL ${MAJOR}`, () => {
    before(async () => {
      const cluster = await TestCluster.start({ major: MAJOR, name: 'bad-input', settings: { log_connections: 'on' } });
      f.cluster = cluster;
      // pwuser must give a password: its line goes before initdb's trust lines.
      const hba = join(cluster.dataDir, 'pg_hba.conf');
      await writeFile(hba, `host all pwuser 127.0.0.1/32 scram-sha-256\n${await readFile(hba, 'utf8')}`);
      await cluster.reload();
      await cluster.query("CREATE ROLE pwuser LOGIN PASSWORD 'the-right-one'");
      await cluster.createRole('noexec');

      const work = await mkdtemp(join(f.box.base, 'restore-'));
      await chmod(work, 0o755);
      f.tablespace = join(cluster.baseDir, 'ts');
      await mkdir(f.tablespace);
      await chownToServerUser(f.tablespace);
      await cluster.query(`CREATE TABLESPACE bi_ts LOCATION '${f.tablespace}'`);
      await cluster.query('CREATE TABLE in_ts TABLESPACE bi_ts AS SELECT 1 AS x');
      f.store = join(work, 'store');
      const tarball = join(work, 'data.tar');
      await takeSplitBackup(cluster, { id: RESTORE_ID, sinks: [new FilesystemSummaryStore({ directory: f.store })], tarball, spoolDirectory: join(work, 'spool') });
      f.pgdata = await untarDataDirectory(tarball, await mkdtemp(join(work, 'copy-')));
      await rm(tarball);
      // A later backup, taken after a checkpoint: the copy above is not its.
      await cluster.query('CHECKPOINT');
      f.laterId = `${RESTORE_ID}-later`;
      const later = new BackupSession({ id: f.laterId, connection: cluster.connectionString, sinks: [new FilesystemSummaryStore({ directory: f.store })], spoolDirectory: join(work, 'spool'), fast: true });
      await later.start();
      await later.stop();
      // The same copy as a program that follows symlinks makes it: the tablespace's data in pg_tblspc/<oid>.
      f.derefData = join(await mkdtemp(join(work, 'deref-')), 'data');
      await cp(f.pgdata, f.derefData, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
      const oid = (await cluster.query<{ oid: string }>("SELECT oid::text FROM pg_tablespace WHERE spcname = 'bi_ts'"))[0]!.oid;
      await rm(join(f.derefData, 'pg_tblspc', oid));
      await cp(f.tablespace, join(f.derefData, 'pg_tblspc', oid), { recursive: true });
      await chownToServerUser(join(f.derefData, '..'));
      f.emptyArchive = join(work, 'empty-archive');
      await mkdir(f.emptyArchive);
      f.corruptJsonStore = join(work, 'store-corrupt-json');
      await cp(f.store, f.corruptJsonStore, { recursive: true });
      await writeFile(join(f.corruptJsonStore, RESTORE_ID, 'summary.json'), '{"not": json');
      f.tamperedLabelStore = join(work, 'store-tampered-label');
      await cp(f.store, f.tamperedLabelStore, { recursive: true });
      const label = join(f.tamperedLabelStore, RESTORE_ID, 'backup_label');
      await writeFile(label, (await readFile(label, 'utf8')).replace('CHECKPOINT', 'CHECKPOlNT'));
      // Other clusters' data directories: initdb only, never started.
      const initdb = async (major: number, name: string): Promise<string> => {
        const parent = await mkdtemp(join(work, `${name}-`));
        await chmod(parent, 0o755);
        await chownToServerUser(parent);
        const dir = join(parent, 'data');
        await runOk(join(binDirFor(major), 'initdb'), ['-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync'], { asServer: true });
        return dir;
      };
      f.otherClusterData = await initdb(MAJOR, 'other-cluster');
      f.otherMajorData = await initdb(OTHER_MAJOR, 'other-major');
    });
    after(async () => {
      await f.standby?.destroy();
      await f.cluster?.destroy();
    });

    describe('connections, privileges, existing IDs', () => runGroup('server'));
    describe('restore', () => runGroup('restore'));
    describe('a standby without hot_standby', () => {
      before(async () => {
        // pg_basebackup on the same host cannot place a tablespace where the primary has it.
        await f.cluster.query('DROP TABLE in_ts');
        await f.cluster.query('DROP TABLESPACE bi_ts');
        f.standby = await startStandby(f.cluster, { name: 'bad-input-standby' });
        // Appended after the harness's hot_standby=on: the last line wins.
        await appendFile(join(f.standby.dataDir, 'postgresql.conf'), '\nhot_standby = off\n');
        await f.standby.restart();
      });
      runGroup('standby');
      after(async () => {
        await f.standby?.destroy();
      });
    });
    // Last: these change the server's settings for good.
    describe('server settings', () => runGroup('settings'));
  });
});
