// Entry point of the detached WAL prefetcher that `archive-get --prefetch` starts. Its configuration
// is argv[2] (JSON, no secrets); stdout and stderr are prefetcher.log in the queue directory.
import { logLine as log } from './spool-process.js';
import { runWalPrefetcher, type PrefetcherConfig } from './wal-prefetch.js';

const config = JSON.parse(process.argv[2] ?? '{}') as PrefetcherConfig;
process.title = 'pg-split-backup wal prefetcher';
try {
  if (!(await runWalPrefetcher(config, log))) log('another prefetcher holds the lock; exiting');
} catch (error) {
  log(`prefetcher failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
}
