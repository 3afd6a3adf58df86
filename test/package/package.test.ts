import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { run, runOk } from '../harness/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');

interface PackageJson {
  readonly exports: Record<string, unknown>;
  readonly dependencies: Record<string, string>;
}

/**
 * An example that uses every public entry point, the way a user writes it: no `pg` or AWS SDK types
 * in sight (the structural types of ours are what it passes), only `@types/node` for Node itself.
 */
const EXAMPLE = `import { describe, test } from 'node:test';
import {
  BackupSession, FilesystemSummaryStore, MemorySummaryStore, drill, isBackupError, prepareRestore,
  type BackupSummary, type ConnectionConfig, type ConnectionOptions, type DrillClient, type SummarySink,
} from 'pg-split-backup';
import { S3SummaryStore, S3WalArchive, type S3ClientLike } from 'pg-split-backup/s3';
import { runStoreConformance, sampleSummary, type StoreFixture } from 'pg-split-backup/testing';
import { abortBackup, listRunning, startBackup, stopBackup, type RunningBackup, type StopOutcome } from 'pg-split-backup/agent';

const sink: SummarySink = new FilesystemSummaryStore({ directory: '/tmp/x' });
const fakeS3: S3ClientLike = { send: async () => ({}) };
const s3: SummarySink = new S3SummaryStore({ bucket: 'my-bucket', client: fakeS3 });
new S3SummaryStore({ bucket: 'my-bucket', region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
new S3WalArchive({ bucket: 'my-bucket', prefix: 'wal' });

const config: ConnectionConfig = { host: '/run/postgresql', port: 5432, user: 'backup', database: 'postgres', password: async () => 'secret', ssl: { rejectUnauthorized: true } };
const connections: ConnectionOptions[] = ['postgresql://localhost/postgres', config, { connectionString: 'postgresql://db/postgres', connectionTimeoutMillis: 5000 }];
const session = new BackupSession({ id: 'x', connection: connections[1]!, sinks: [sink, s3], maxHoldMs: 3_600_000, archiveTimeoutMs: 60_000, heartbeatIntervalMs: 5000 });
session.on('lost', ({ reason }: { reason: string }) => reason.length);
export async function go(): Promise<BackupSummary | undefined> {
  try { return (await session.stop()).summary; } catch (e) { if (isBackupError(e, 'SINK_FAILED')) return undefined; throw e; }
}
// @ts-expect-error an unknown option is a type error
new BackupSession({ id: 'x', connection: '', sinks: [], noSuchOption: true });

export async function prove(signal: AbortSignal): Promise<boolean> {
  const store = new MemorySummaryStore({ name: 'mem:' });
  await store.write(sampleSummary('b1'));
  await prepareRestore({ id: 'b1', store, pgdata: '/tmp/restore' });
  const report = await drill({
    id: 'b1', store, dataCopy: '/tmp/copy', binDir: '/usr/lib/postgresql/15/bin', signal,
    async check(client: DrillClient) {
      const { rows } = await client.query<{ n: number }>('SELECT $1::int AS n', [1]);
      if (rows[0]?.n !== 1) throw new Error('no');
    },
  });
  return report.ok;
}

export async function hooks(signal: AbortSignal): Promise<StopOutcome> {
  const held = await startBackup({ id: 'x', sinks: ['file:///tmp/x'], fast: true, signal });
  const running: RunningBackup[] = await listRunning({ signal });
  if (running.length > 1) await abortBackup('other', { reason: 'not ours', signal });
  return stopBackup(held.id, { signal, onProgress: ({ message }) => message.length });
}

runStoreConformance({
  name: 'MemorySummaryStore',
  describe,
  test,
  makeFixture: async (): Promise<StoreFixture> => {
    const store = new MemorySummaryStore();
    return { store, corrupt: async (id, name, body) => void store.files.get(id)?.set(name, body), cleanup: async () => undefined };
  },
});
`;

describe('the published package', () => {
  let packed: string;
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pgsb-package-'));
    await runOk('npm', ['run', 'build', '--silent'], { cwd: ROOT });
    const { stdout } = await runOk('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT });
    packed = join(work, (JSON.parse(stdout) as [{ filename: string }])[0].filename);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('npm pack contains the compiled library, its types and the README, and no sources or tests', async () => {
    const { stdout } = await runOk('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
    for (const wanted of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/stores/s3.js', 'dist/stores/s3.d.ts', 'dist/testing/index.js', 'dist/testing/index.d.ts']) {
      assert.ok(files.includes(wanted), `${wanted} is packed`);
    }
    assert.deepEqual(files.filter((f) => /^(src|test|scripts|bench|node_modules)\//.test(f)), []);
  });

  test('a strict consumer with only the packed package (no @types/pg, no AWS SDK, clean typeRoots) type-checks an example using every entry point', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
    const dir = join(work, 'consumer');
    const modules = join(dir, 'node_modules');
    // Installed as npm would: the tarball unpacked (not a link back into this repo, whose
    // node_modules holds @types/pg), beside the package's own dependencies. pg and pgpass ship no
    // types, as in a real install; @types/node is the consumer's own.
    await mkdir(join(modules, 'pg-split-backup'), { recursive: true });
    await runOk('tar', ['-xzf', packed, '-C', join(modules, 'pg-split-backup'), '--strip-components=1']);
    for (const name of [...Object.keys(pkg.dependencies), '@types/node']) {
      await mkdir(join(modules, name, '..'), { recursive: true });
      await symlink(join(ROOT, 'node_modules', name), join(modules, name));
    }
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module', dependencies: { 'pg-split-backup': `file:${packed}` } }));
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, module: 'NodeNext', moduleResolution: 'NodeNext',
          target: 'ES2022', lib: ['ES2022'], noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(modules, '@types')],
        },
        files: ['example.ts', 'entry-points.ts'],
      }),
    );
    await writeFile(join(dir, 'example.ts'), EXAMPLE);
    // Every subpath in "exports", so a new entry point is checked the day it is added.
    const subpaths = Object.keys(pkg.exports).filter((s) => s !== './package.json');
    assert.ok(subpaths.includes('./testing'), 'pg-split-backup/testing is exported');
    await writeFile(
      join(dir, 'entry-points.ts'),
      subpaths.map((s, i) => `import * as entry${i} from '${join('pg-split-backup', s)}';\nexport { entry${i} };\n`).join(''),
    );
    for (const s of subpaths) assert.match(EXAMPLE, new RegExp(`from '${join('pg-split-backup', s)}'`), `the example uses ${s}`);
    const result = await run(TSC, ['-p', dir], { cwd: dir });
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });
});
