// Entry point of the detached archive pusher that `archive-push --async` starts. Its configuration
// is argv[2] (JSON, no secrets); stdout and stderr are pusher.log in the spool directory.
import { runArchivePusher, type PusherConfig } from './archive-pusher.js';
import { logLine as log } from './spool-process.js';

const config = JSON.parse(process.argv[2] ?? '{}') as PusherConfig;
process.title = 'pg-split-backup archive pusher';
try {
  const ran = await runArchivePusher(config, log);
  if (!ran) log('another pusher holds the lock; exiting');
  process.exitCode = 0;
} catch (error) {
  log(`pusher failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
}
