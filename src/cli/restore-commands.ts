import type { Command } from './command-kit.js';

import { restore } from './commands/restore.js';
import { verify } from './commands/verify.js';
import { excludes } from './commands/excludes.js';

/** The restore-side commands. */
export const RESTORE_COMMANDS: readonly Command[] = [restore, verify, excludes];
