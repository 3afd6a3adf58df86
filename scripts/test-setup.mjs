#!/usr/bin/env node
// The test suite's machine set-up, run by `npm test` before any test: the programs the tests drive
// for real. Debian packages that are missing are installed when this runs as root with apt-get
// (CI, a fresh machine); otherwise it stops at once, naming them and the one command that installs
// them, rather than failing minutes later inside a test.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** What the tests run, and the Debian package that brings it. */
export const REQUIRED = [
  {
    what: "PostgreSQL 15's server and client tools",
    present: () => ['postgres', 'psql', 'pgbench', 'pg_basebackup', 'pg_amcheck'].every((p) => existsSync(`/usr/lib/postgresql/15/bin/${p}`)),
    packages: ['postgresql-15', 'postgresql-contrib'],
  },
  { what: 'rsync (copy-exclusion tests)', present: () => onPath('rsync'), packages: ['rsync'] },
  { what: 'restic (hook example tests)', present: () => onPath('restic'), packages: ['restic'] },
  { what: 'borg (hook example tests)', present: () => onPath('borg'), packages: ['borgbackup'] },
  {
    what: "Bacula's director (sqlite3 catalog), storage daemon, file daemon and bconsole (hook example tests)",
    present: () =>
      ['bacula-dir', 'bacula-sd', 'bacula-fd', 'bconsole'].every((p) => existsSync(`/usr/sbin/${p}`)) && existsSync('/usr/share/bacula-director/make_sqlite3_tables'),
    // bacula-director-sqlite3 alone does not pull in the director itself.
    packages: ['bacula-director', 'bacula-director-sqlite3', 'bacula-sd', 'bacula-fd', 'bacula-console'],
  },
  { what: 'btrfs-progs (Btrfs snapshot hook test)', present: () => onPath('mkfs.btrfs') && onPath('btrfs'), packages: ['btrfs-progs'] },
];

function onPath(program) {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

function run(command, args) {
  // apt's progress goes nowhere; its errors stay on stderr.
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return result.status === 0;
}

export function setUp() {
  const missing = REQUIRED.filter((r) => !r.present());
  if (missing.length === 0) return true;
  const packages = [...new Set(missing.flatMap((m) => m.packages))];
  const install = `apt-get install -y ${packages.join(' ')}`;
  const canInstall = process.getuid?.() === 0 && onPath('apt-get');
  if (!canInstall) {
    console.error(`The tests need ${missing.map((m) => m.what).join(', ')}. Install them with:\n  sudo apt-get update && sudo ${install}`);
    return false;
  }
  console.error(`test set-up: installing ${packages.join(' ')} (missing: ${missing.map((m) => m.what).join(', ')})`);
  if (!run('apt-get', ['update', '-qq']) || !run('apt-get', ['install', '-y', '-qq', ...packages])) {
    console.error(`test set-up: apt-get failed; install them by hand:\n  ${install}`);
    return false;
  }
  const still = REQUIRED.filter((r) => !r.present());
  if (still.length > 0) {
    console.error(`test set-up: still missing after apt-get: ${still.map((m) => m.what).join(', ')}`);
    return false;
  }
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(setUp() ? 0 : 1);
