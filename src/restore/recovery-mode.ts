// Which kind of recovery a restore_command runs in. It decides what a failed fetch may answer:
// PostgreSQL takes any exit from 1 to 125 as "no such file". A standby then asks again later;
// archive recovery ends at that file and promotes, losing all WAL after it.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A PostgreSQL boolean that reads as true (`on`, `true`, `yes`, `1`, and their unique prefixes, as guc.c parses them). */
function isTrue(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === '') return false;
  return v === '1' || 'true'.startsWith(v) || 'yes'.startsWith(v) || (v.length >= 2 && 'on'.startsWith(v));
}

/** `standby_mode` as a PostgreSQL 10-11 recovery.conf sets it (the last setting wins). */
export function standbyModeIn(recoveryConf: string): boolean {
  let on = false;
  for (const line of recoveryConf.split('\n')) {
    const m = /^\s*standby_mode\s*=?\s*(?:'((?:[^']|'')*)'|([^\s#']*))/.exec(line);
    if (m) on = isTrue(m[1] ?? m[2] ?? '');
  }
  return on;
}

/**
 * Whether the server in `dataDirectory` recovers as a standby: `standby.signal` (12+), or
 * `standby_mode = on` in recovery.conf (10-11). False for archive recovery, and when neither file
 * can be read: the answer that cannot end a recovery early.
 */
export async function isStandbyDataDirectory(dataDirectory: string): Promise<boolean> {
  try {
    await stat(join(dataDirectory, 'standby.signal'));
    return true;
  } catch {
    // not a 12+ standby
  }
  try {
    return standbyModeIn(await readFile(join(dataDirectory, 'recovery.conf'), 'utf8'));
  } catch {
    return false;
  }
}
