import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { run, runOk } from '../harness/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');

describe('the published package', () => {
  before(async () => {
    await runOk('npm', ['run', 'build', '--silent'], { cwd: ROOT });
  });

  test('npm pack contains the compiled library, its types and the README, and no sources or tests', async () => {
    const { stdout } = await runOk('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
    for (const wanted of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/stores/s3.js', 'dist/stores/s3.d.ts', 'dist/agent/index.js', 'dist/agent/index.d.ts']) {
      assert.ok(files.includes(wanted), `${wanted} is packed`);
    }
    assert.deepEqual(files.filter((f) => /^(src|test|scripts|bench|node_modules)\//.test(f)), []);
  });

  test('a strict TypeScript consumer compiles against the emitted .d.ts of every entry point', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgsb-consumer-'));
    try {
      await mkdir(join(dir, 'node_modules'));
      await symlink(ROOT, join(dir, 'node_modules', 'pg-split-backup'));
      await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      await writeFile(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: false, types: [], typeRoots: [join(ROOT, 'node_modules', '@types')] } }),
      );
      await writeFile(
        join(dir, 'consumer.ts'),
        `import { BackupSession, FilesystemSummaryStore, isBackupError, type BackupSummary, type SummarySink } from 'pg-split-backup';
import { S3SummaryStore } from 'pg-split-backup/s3';
import { startBackup, stopBackup, type StopOutcome } from 'pg-split-backup/agent';
export async function hooks(signal: AbortSignal): Promise<StopOutcome> {
  const held = await startBackup({ id: 'x', sinks: ['file:///tmp/x'], signal });
  return stopBackup(held.id, { signal, onProgress: ({ message }) => message.length });
}
const sink: SummarySink = new FilesystemSummaryStore({ directory: '/tmp/x' });
const s3: SummarySink = new S3SummaryStore({ bucket: 'my-bucket' });
const session = new BackupSession({ id: 'x', connection: 'postgresql://localhost/postgres', sinks: [sink, s3] });
session.on('lost', ({ reason }: { reason: string }) => reason.length);
export async function go(): Promise<BackupSummary | undefined> {
  try { return (await session.stop()).summary; } catch (e) { if (isBackupError(e, 'SINK_FAILED')) return undefined; throw e; }
}
// @ts-expect-error an unknown option is a type error
new BackupSession({ id: 'x', connection: '', sinks: [], noSuchOption: true });
`,
      );
      const result = await run(TSC, ['-p', dir], { cwd: dir });
      assert.equal(result.code, 0, result.stdout + result.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
