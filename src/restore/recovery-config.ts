import { BackupError } from '../errors.js';
import { compareLsn, isLsn } from '../summary/lsn.js';
import type { TargetTimeline } from '../summary/timeline-history.js';

/** Where recovery should stop. Only one target may be given (PostgreSQL refuses several). */
export type RecoveryTarget =
  | {
      /** `recovery_target_time`, e.g. `2026-11-25 03:00:00+00`. */
      readonly time: string;
    }
  | {
      /** `recovery_target_lsn`, e.g. `0/5000000`. */
      readonly lsn: string;
    }
  | {
      /** `recovery_target_name`: a point made with `pg_create_restore_point()`. */
      readonly name: string;
    }
  | {
      /** `recovery_target_xid`. */
      readonly xid: string;
    }
  | {
      /** `recovery_target = 'immediate'`: stop as soon as the backup is consistent. */
      readonly immediate: true;
    };

/** What to do when the target is reached. */
export type RecoveryTargetAction = 'promote' | 'pause' | 'shutdown';

/** The recovery settings a restore writes. */
export interface RecoverySettings {
  readonly restoreCommand?: string;
  readonly target?: RecoveryTarget;
  readonly targetAction?: RecoveryTargetAction;
  /** Start as a standby (standby.signal / standby_mode) instead of a one-off recovery. */
  readonly standby?: boolean;
  /** `recovery_target_timeline`; `current` is only for 12+ (give the number before). @default unset on 12+ (PostgreSQL's latest), 'latest' on 10-11 */
  readonly targetTimeline?: TargetTimeline;
}

/** What a restore does with the copy's archiving: keep the source's settings, or turn archiving off. */
export type ArchiveMode = 'preserve' | 'off';

/**
 * Checks a `recovery_target_timeline` value: `latest`, `current`, or a timeline number 1-4294967295
 * (a number, or its decimal text as the CLI passes it).
 * @throws BackupError `INVALID_OPTION`.
 */
export function parseTargetTimeline(value: unknown): TargetTimeline {
  if (value === 'latest' || value === 'current') return value;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) {
    throw targetError('target-timeline', `--target-timeline takes latest, current or a timeline number (1-4294967295), got ${JSON.stringify(value)}.`);
  }
  return n;
}

/** Checks an archive mode option. @throws BackupError `INVALID_OPTION`. */
export function assertArchiveMode(value: unknown): ArchiveMode {
  if (value === 'preserve' || value === 'off') return value;
  throw targetError('archive-mode', `--archive-mode takes preserve or off, got ${JSON.stringify(value)}.`);
}

/**
 * Quotes a value for postgresql.conf / recovery.conf: single quotes, with `'` and `\` doubled
 * inside (the configuration parser takes a backslash as an escape: `\t` would be a tab and `'\''`,
 * sh's quoted quote, would end the value; PostgreSQL's own escape_single_quotes_ascii does the same).
 */
export function quoteConfValue(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new BackupError('INVALID_OPTION', `A recovery setting cannot contain a line break: ${JSON.stringify(value)}.`);
  return `'${value.replace(/['\\]/g, (c) => c + c)}'`;
}

// The forms of recovery_target_time this accepts (a strict subset of what PostgreSQL takes, so that
// a value we pass is one the server starts with): an ISO date, optionally a time, optionally a zone.
const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?)?(?: ?(Z|[+-]\d{2}(?::?\d{2})?)| ([A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)*))?$/;
const TIME_EXAMPLE = "e.g. '2026-11-25 03:00:00+00', '2026-11-25T03:00:00Z' or '2026-11-25 03:00 Europe/Berlin'";
/** PostgreSQL's MAXFNAMELEN - 1: the longest restore point name. */
export const MAX_TARGET_NAME_BYTES = 63;

function targetError(option: string, message: string): BackupError {
  return new BackupError('INVALID_OPTION', message, { details: { option } });
}

function knownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Why `text` is not a recovery_target_time PostgreSQL accepts, or undefined when it is fine. */
export function targetTimeProblem(text: string): string | undefined {
  const m = TIME.exec(text);
  if (m === null) return 'it is not a date and time';
  const [year, month, day, hour = 0, minute = 0, second = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => (v === undefined ? undefined : Number(v)));
  if (month! < 1 || month! > 12) return `month ${month} does not exist`;
  const days = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  if (day! < 1 || day! > days) return `day ${day} does not exist in ${m[1]}-${m[2]}`;
  if (hour! > 23 || minute! > 59 || second! > 59) return `${m[4]}:${m[5]}${m[6] === undefined ? '' : `:${m[6]}`} is not a time of day`;
  const offset = m[7] !== undefined && m[7] !== 'Z' ? /^[+-](\d{2}):?(\d{2})?$/.exec(m[7]) : null;
  if (offset && (Number(offset[1]) > 15 || Number(offset[2] ?? 0) > 59)) return `${m[7]} is not a UTC offset`;
  if (m[8] !== undefined && !knownTimeZone(m[8])) return `${m[8]} is not a time zone`;
  return undefined;
}

/**
 * Checks a recovery target before anything is written, so the restored server does not refuse to
 * start over it: a time PostgreSQL parses, an LSN, an xid, a restore point name of at most 63
 * bytes. With the backup's stop LSN, an LSN target before it is refused too (recovery cannot stop
 * before the backup is consistent).
 * @throws BackupError `INVALID_OPTION` naming the option.
 */
export function assertRecoveryTarget(target: RecoveryTarget, stopLsn?: string): void {
  if ('time' in target) {
    const problem = typeof target.time === 'string' ? targetTimeProblem(target.time.trim()) : 'it is not text';
    if (problem !== undefined) throw targetError('target-time', `--target-time ${JSON.stringify(target.time)} is not a time PostgreSQL accepts: ${problem}. Use ${TIME_EXAMPLE}.`);
  } else if ('lsn' in target) {
    if (!isLsn(target.lsn)) throw targetError('target-lsn', `--target-lsn ${target.lsn} is not an LSN (e.g. 0/5000000).`);
    if (stopLsn !== undefined && compareLsn(target.lsn, stopLsn) < 0) {
      throw targetError('target-lsn', `--target-lsn ${target.lsn} is before ${stopLsn}, where this backup becomes consistent: recovery cannot stop there. Pick a later LSN, or an earlier backup.`);
    }
  } else if ('xid' in target) {
    if (typeof target.xid !== 'string' || !/^\d{1,20}$/.test(target.xid) || BigInt(target.xid) > 0xffffffffffffffffn) {
      throw targetError('target-xid', `--target-xid ${target.xid} is not a transaction ID (a number, e.g. 7453).`);
    }
  } else if ('name' in target) {
    if (typeof target.name !== 'string' || target.name === '') throw targetError('target-name', '--target-name is empty.');
    if (Buffer.byteLength(target.name) > MAX_TARGET_NAME_BYTES) {
      throw targetError('target-name', `--target-name is ${Buffer.byteLength(target.name)} bytes; a restore point name has at most ${MAX_TARGET_NAME_BYTES}.`);
    }
  } else if ((target as { immediate?: unknown }).immediate !== true) {
    throw targetError('target', 'A recovery target needs one of time, lsn, name, xid or immediate.');
  }
}

/**
 * PostgreSQL 10-12 build restore_command in a MAXPGPATH buffer (xlogarchive.c) and cut it
 * silently at 1023 bytes: a cut line can be valid shell that reads another archive. Checked with
 * the longest substitutions (`%f` a `.backup` file name, `%p` `pg_wal/RECOVERYHISTORY`).
 */
function assertRestoreCommandFits(command: string, major: number): void {
  if (major > 12) return;
  const longest = command.replace(/%([fpr%])/g, (_, c: string) => ({ f: 'F'.repeat(40), p: 'pg_wal/RECOVERYHISTORY', r: 'F'.repeat(24), '%': '%' })[c] ?? '');
  const bytes = Buffer.byteLength(longest);
  if (bytes > 1023) {
    throw new BackupError('INVALID_OPTION', `restore_command would be ${bytes} bytes once PostgreSQL fills in %f and %p; PostgreSQL ${major} cuts it at 1023. Use a shorter program path, archive URL or key file path.`, {
      details: { option: 'restoreCommand', bytes },
    });
  }
}

/** The `name = 'value'` lines for the settings, in a stable order. */
export function recoveryLines(settings: RecoverySettings, major: number): string[] {
  const lines: string[] = [];
  if (settings.restoreCommand !== undefined) {
    assertRestoreCommandFits(settings.restoreCommand, major);
    lines.push(`restore_command = ${quoteConfValue(settings.restoreCommand)}`);
  }
  const target = settings.target;
  if (target !== undefined) {
    if ('time' in target) lines.push(`recovery_target_time = ${quoteConfValue(target.time)}`);
    else if ('lsn' in target) lines.push(`recovery_target_lsn = ${quoteConfValue(target.lsn)}`);
    else if ('name' in target) lines.push(`recovery_target_name = ${quoteConfValue(target.name)}`);
    else if ('xid' in target) lines.push(`recovery_target_xid = ${quoteConfValue(target.xid)}`);
    else lines.push(`recovery_target = 'immediate'`);
  }
  if (settings.targetAction !== undefined) {
    if (target === undefined) throw new BackupError('INVALID_OPTION', 'A target action needs a recovery target.', { details: { option: 'targetAction' } });
    lines.push(`recovery_target_action = ${quoteConfValue(settings.targetAction)}`);
  }
  const timeline = settings.targetTimeline;
  if (timeline === 'current' && major < 12) throw targetError('target-timeline', `PostgreSQL ${major} has no recovery_target_timeline 'current': give the backup's timeline number.`);
  // 10-11's default is the backup's own timeline, 12+'s is latest: a restore writes what it chose, so it is what the report says.
  if (timeline !== undefined) lines.push(`recovery_target_timeline = ${quoteConfValue(String(timeline))}`);
  else if (major < 12) lines.push(`recovery_target_timeline = 'latest'`);
  // 10-11 take everything from recovery.conf, including standby mode.
  if (major < 12 && settings.standby) lines.push(`standby_mode = 'on'`);
  return lines;
}

/** Settings in postgresql.auto.conf that a restore's own would conflict with. */
export const RECOVERY_SETTING = /^\s*(restore_command|recovery_target\w*)\s*=/;
