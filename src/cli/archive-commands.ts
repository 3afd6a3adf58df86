// PostgreSQL runs these once per WAL file: each command imports only what its own path needs, when
// it needs it (a prefetched archive-get: no S3 client, no AWS SDK, no compression code).
import type { Command } from './command-kit.js';

import { archivePushCommand } from './commands/archive-push.js';
import { archiveGetCommand } from './commands/archive-get.js';

/** The WAL archive commands. */
export const ARCHIVE_COMMANDS: readonly Command[] = [archivePushCommand, archiveGetCommand];
