// The compiled CLI (what `npm install` puts on PATH) under plain node: the holder entry is found
// next to the compiled launcher, with no loader. Built into a temp dir, not the shared dist/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runOk, TestCluster, testMajors } from '../harness/index.js';
import { alive, CliSandbox, explain, ROOT, waitFor, type CliRun } from './cli-helpers.js';

const MAJOR = testMajors().includes(15) ? 15 : Math.max(...testMajors());

function runDist(main: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const began = performance.now();
  return new Promise((resolve, reject) => {
    // Plain node, from an unrelated working directory: nothing but the compiled files.
    const child = spawn(process.execPath, [main, ...args], { cwd: '/', env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let exitedAt = 0;
    let code: number | null = null;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (c) => {
      code = c;
      exitedAt = performance.now();
    });
    child.on('close', () => {
      let json: Record<string, any> | undefined;
      try {
        json = JSON.parse(stdout) as Record<string, any>;
      } catch {
        json = undefined;
      }
      resolve({ code, signal: null, stdout, stderr, json, ms: performance.now() - began, eofAfterExitMs: performance.now() - exitedAt });
    });
  });
}

describe(`the compiled CLI under plain node (PostgreSQL ${MAJOR})`, () => {
  let cluster: TestCluster;
  let build: string;
  before(async () => {
    build = await mkdtemp(join(tmpdir(), 'pgsb-dist-'));
    // package.json beside dist/ (version.js reads it) and the dependencies through node_modules.
    await copyFile(join(ROOT, 'package.json'), join(build, 'package.json'));
    await symlink(join(ROOT, 'node_modules'), join(build, 'node_modules'));
    await runOk(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(build, 'dist'), '--declaration', 'false', '--sourceMap', 'false'], { cwd: ROOT });
    cluster = await TestCluster.start({ major: MAJOR });
  });
  after(async () => {
    await cluster?.destroy();
    if (build) await rm(build, { recursive: true, force: true });
  });

  test('dist/cli/main.js: pre starts a holder running dist/agent/holder/holder-main.js without tsx, post stops it', async (t) => {
    const box = await CliSandbox.create();
    t.after(() => box.destroy());
    const main = join(build, 'dist', 'cli', 'main.js');
    assert.match(await readFile(main, 'utf8'), /^#!\/usr\/bin\/env node\n/);
    const id = 'dist-plain-node';
    const rt = ['--runtime-dir', box.runtimeDir];
    const pre = await runDist(main, ['pre', '--id', id, '--sink', box.sink(), '--dbname', cluster.connectionString, '--fast', '--json', ...rt], box.env());
    assert.equal(pre.code, 0, explain(pre));
    assert.ok(pre.eofAfterExitMs < 1000);
    const pid = pre.json!.pid as number;
    assert.ok(alive(pid));
    // The holder names itself, and without a loader to resolve it does not pin the caller's directory.
    assert.match(await readFile(`/proc/${pid}/cmdline`, 'utf8'), new RegExp(`^pg-split-backup holder ${id}`));
    assert.equal(await readlink(`/proc/${pid}/cwd`), '/');
    const post = await runDist(main, ['post', '--id', id, ...rt], box.env());
    assert.equal(post.code, 0, explain(post));
    assert.match(post.stdout, new RegExp(`summary saved to:\\n  file://${box.sink()}/${id}/`));
    assert.ok(await waitFor(() => !alive(pid)));
  });

  test('dist/cli/main.js: archive-get from an S3 store that does not answer writes one line to stderr (PostgreSQL logs it per WAL file)', async (t) => {
    const box = await CliSandbox.create();
    t.after(() => box.destroy());
    const main = join(build, 'dist', 'cli', 'main.js');
    const env: NodeJS.ProcessEnv = { ...box.env(), AWS_ACCESS_KEY_ID: 'pgsb-test', AWS_SECRET_ACCESS_KEY: 'pgsb-test' };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const archive = 's3://pgsb-nowhere/wal?endpoint=http://127.0.0.1:1&region=us-east-1&forcePathStyle=true';
    const run = await runDist(main, ['archive-get', '000000010000000000000001', join(box.base, 'RECOVERYXLOG'), '--archive', archive, '--prefetch', '0', '--runtime-dir', box.runtimeDir], env);
    // 126: not a standby (no standby.signal where it runs), so an unreachable archive stops recovery.
    assert.equal(run.code, 126, explain(run));
    // On Node 20 the AWS SDK adds a 9-line notice about its future Node versions unless the CLI silences it.
    assert.match(run.stderr, /^pg-split-backup archive-get: ARCHIVE_FAILED: [^\n]*ECONNREFUSED[^\n]*\n$/, explain(run));
  });
});
