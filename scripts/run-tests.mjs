#!/usr/bin/env node
// Runs node's test runner over test/**/*.test.ts (Node 20 has no glob in --test).
// Arguments narrow the run to files whose path contains any of them: `npm test -- stores session`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setUp } from './test-setup.mjs';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return find(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const filters = process.argv.slice(2);
const files = find('test')
  .map((f) => relative('.', f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// A fresh clone: the npm dependencies (tsx, the PostgreSQL 10-18 builds, s3rver) first.
if (!existsSync('node_modules/.package-lock.json')) {
  console.error('test set-up: npm ci');
  if (spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' }).status !== 0) process.exit(1);
}
// The programs the tests drive for real (PostgreSQL 15, rsync, restic, borg): installed when missing.
if (!setUp()) process.exit(1);
// Two files at a time on 2 cores: most files wait on servers, timers and child processes more than
// they compute. The files that measure concurrency or timing themselves (50 concurrent holders, the
// soak's memory, the fault matrix's races and back-offs, the async pusher) run first, alone, so a
// neighbour's load cannot change what they measure. PGSB_TEST_CONCURRENCY=1 runs everything serially.
// --openssl-legacy-provider: s3rver (the S3 server the tests host in-process) makes ListObjectsV2
// continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider; without it any
// listing longer than one page fails with a 500. The library itself never needs it.
const ALONE = ['test/load/', 'test/faults/', 'test/archive/archive-async'];
const concurrency = Math.max(1, Number(process.env.PGSB_TEST_CONCURRENCY ?? 2));
const alone = files.filter((f) => ALONE.some((a) => f.startsWith(a)));
const together = files.filter((f) => !alone.includes(f));

function run(batch, jobs) {
  return new Promise((resolve) => {
    if (batch.length === 0) return resolve(0);
    const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', '--test', `--test-concurrency=${jobs}`, ...batch], { stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(signal ? 1 : (code ?? 1)));
  });
}

const codes = [await run(alone, 1), await run(together, concurrency)];
process.exit(codes.some((c) => c !== 0) ? 1 : 0);
