import { BackupError } from '../errors.js';

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
}

/** Quotes a value for postgresql.conf / recovery.conf: single quotes, doubled inside. */
export function quoteConfValue(value: string): string {
  if (/[\r\n\0]/.test(value)) throw new BackupError('INVALID_OPTION', `A recovery setting cannot contain a line break: ${JSON.stringify(value)}.`);
  return `'${value.replace(/'/g, "''")}'`;
}

/** The `name = 'value'` lines for the settings, in a stable order. */
export function recoveryLines(settings: RecoverySettings, major: number): string[] {
  const lines: string[] = [];
  if (settings.restoreCommand !== undefined) lines.push(`restore_command = ${quoteConfValue(settings.restoreCommand)}`);
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
  // 10-11 take everything from recovery.conf, including standby mode and the timeline.
  if (major < 12) {
    lines.push(`recovery_target_timeline = 'latest'`);
    if (settings.standby) lines.push(`standby_mode = 'on'`);
  }
  return lines;
}

/** Settings in postgresql.auto.conf that a restore's own would conflict with. */
export const RECOVERY_SETTING = /^\s*(restore_command|recovery_target\w*)\s*=/;
