// info, expire and drill: living with backups for months. Thin over backupInfo(), expire(), drill().
import type { Command } from './command-kit.js';

import { info } from './commands/info.js';
import { expireCommand } from './commands/expire.js';
import { drillCommand } from './commands/drill.js';

export { formatBytes } from './commands/lifecycle-kit.js';

/** The lifecycle commands. */
export const LIFECYCLE_COMMANDS: readonly Command[] = [info, expireCommand, drillCommand];
