// Flags the restore-like commands (restore, drill) share.
import { BackupError, parseTargetTimeline, type RecoveryTarget, type TargetTimeline } from '../index.js';
import { text, type Values } from './command-kit.js';

export const TARGET_FLAGS = ['target-time', 'target-lsn', 'target-name', 'target-xid', 'target'] as const;

/** The one `--target-...` flag given, as a recovery target (the library checks its value: assertRecoveryTarget). */
export function recoveryTargetFlags(values: Values): RecoveryTarget | undefined {
  const given = TARGET_FLAGS.filter((flag) => text(values, flag) !== undefined);
  if (given.length > 1) {
    throw new BackupError('INVALID_OPTION', `Give one recovery target, not ${given.map((f) => `--${f}`).join(' and ')}: PostgreSQL refuses several.`, {
      details: { option: given[1] },
    });
  }
  const flag = given[0];
  if (flag === undefined) return undefined;
  const value = text(values, flag)!;
  switch (flag) {
    case 'target-time':
      return { time: value };
    case 'target-lsn':
      return { lsn: value };
    case 'target-name':
      return { name: value };
    case 'target-xid':
      return { xid: value };
    default:
      if (value !== 'immediate') throw new BackupError('INVALID_OPTION', `--target takes only "immediate", got ${value}.`, { details: { option: flag } });
      return { immediate: true };
  }
}

/** `--target-timeline`, checked (the library checks it against the archive's history files). */
export function targetTimelineFlag(values: Values): TargetTimeline | undefined {
  const value = text(values, 'target-timeline');
  return value === undefined ? undefined : parseTargetTimeline(value);
}

/** The text line restore and drill print for the timeline choice. */
export function timelineLine(choice: { readonly setting: TargetTimeline; readonly reason: string }): string {
  return `recovery_target_timeline = '${choice.setting}': ${choice.reason}`;
}

/** The parseArgs declarations of the target flags. */
export const RECOVERY_TARGET_OPTIONS = {
  'target-timeline': { type: 'string' },
  'target-time': { type: 'string' },
  'target-lsn': { type: 'string' },
  'target-name': { type: 'string' },
  'target-xid': { type: 'string' },
  target: { type: 'string' },
} as const;
