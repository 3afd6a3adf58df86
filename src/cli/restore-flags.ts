// Flags restore-like commands share (drill today; restore-commands.ts keeps its own copy of the
// same logic until it moves here).
import { BackupError } from '../errors.js';
import type { RecoveryTarget } from '../restore/recovery-config.js';
import { openWalArchive } from '../restore/wal-archive.js';
import { text, type Values } from './command-kit.js';

export const TARGET_FLAGS = ['target-time', 'target-lsn', 'target-name', 'target-xid', 'target'] as const;

/** The one `--target-...` flag given, as a recovery target; INVALID_OPTION for two or a bad value. */
export function recoveryTargetFlags(values: Values): RecoveryTarget | undefined {
  const given = TARGET_FLAGS.filter((flag) => text(values, flag) !== undefined);
  if (given.length > 1) throw new BackupError('INVALID_OPTION', `Give one recovery target, not ${given.map((f) => `--${f}`).join(' and ')}.`, { details: { option: given[1] } });
  const flag = given[0];
  if (flag === undefined) return undefined;
  const value = text(values, flag)!;
  if (flag === 'target-time') return { time: value };
  if (flag === 'target-name') return { name: value };
  if (flag === 'target-lsn') {
    if (!/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(value)) throw new BackupError('INVALID_OPTION', `--target-lsn ${value} is not an LSN (e.g. 0/5000000).`, { details: { option: flag } });
    return { lsn: value };
  }
  if (flag === 'target-xid') {
    if (!/^\d+$/.test(value)) throw new BackupError('INVALID_OPTION', `--target-xid ${value} is not a transaction ID.`, { details: { option: flag } });
    return { xid: value };
  }
  if (value !== 'immediate') throw new BackupError('INVALID_OPTION', `--target takes only "immediate", got ${value}.`, { details: { option: flag } });
  return { immediate: true };
}

/** The parseArgs declarations of the target flags. */
export const RECOVERY_TARGET_OPTIONS = {
  'target-time': { type: 'string' },
  'target-lsn': { type: 'string' },
  'target-name': { type: 'string' },
  'target-xid': { type: 'string' },
  target: { type: 'string' },
} as const;

/** `--wal-archive` for a command that builds a cp restore_command: it must be a directory. */
export async function walArchiveDirectory(url: string): Promise<string> {
  const archive = await openWalArchive(url);
  if (!('directory' in archive)) {
    throw new BackupError('INVALID_OPTION', '--wal-archive builds a cp restore_command, so it must be a filesystem directory; for S3 give your own --restore-command.', { details: { option: 'wal-archive' } });
  }
  return (archive as { directory: string }).directory;
}
