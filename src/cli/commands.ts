import type { Command } from './command-kit.js';
import { EXIT_CODE_HELP } from './exit-codes.js';
import { ARCHIVE_COMMANDS } from './archive-commands.js';
import { RESTORE_COMMANDS } from './restore-commands.js';
import { LIFECYCLE_COMMANDS } from './lifecycle-commands.js';

import { pre } from './commands/pre.js';
import { post } from './commands/post.js';
import { abort } from './commands/abort.js';
import { status } from './commands/status.js';
import { list } from './commands/list.js';
import { show } from './commands/show.js';
import { resend } from './commands/resend.js';
import { keys } from './commands/keys.js';
import { check } from './commands/check.js';
import { archiveConfig } from './commands/archive-config.js';

const COMMON_HELP = `  --runtime-dir DIR  sockets, locks, logs and records of running backups (default: env
                     PG_SPLIT_BACKUP_RUNTIME_DIR, else $XDG_RUNTIME_DIR/pg-split-backup, else
                     /tmp/pg-split-backup-<uid>; created 0700, refused if not yours alone)
  --json             print exactly one JSON object on stdout (errors too)
  --verbose          show every wait on stderr (not only long ones); pre: the holder logs at
                     debug level too (as with PGSB_DEBUG=1 or DEBUG=pg-split-backup)
  --help             this help`;

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [pre, post, abort, status, list, show, resend, ...RESTORE_COMMANDS, ...LIFECYCLE_COMMANDS, ...ARCHIVE_COMMANDS, archiveConfig, check, keys];

/** `pg-split-backup <command> --help`. */
export function commandHelp(command: Command): string {
  return `${command.name}: ${command.summary}

Usage: ${command.usage}

${command.details}
${COMMON_HELP}

${EXIT_CODE_HELP}
`;
}

/** `pg-split-backup --help`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `pg-split-backup: consistent PostgreSQL base backups from any backup program's pre/post hooks

Usage: pg-split-backup <command> [options]     (pg-split-backup <command> --help for details)

${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

A backup program runs "pre" before it copies the data directory and "post" after; see docs/hooks.md.

${EXIT_CODE_HELP}
`;
}
