import { stopBackup } from '../../agent/index.js';
import { summaryOverview } from '../../index.js';
import { COMMON_OPTIONS, lines, requiredId, type Command } from '../command-kit.js';
import { runtimeDir } from './hold-kit.js';

export const post: Command = {
  name: 'post',
  summary: 'stop the backup and save its summary to every sink (the post-backup hook)',
  usage: 'pg-split-backup post --id ID [--json]',
  details: `Asks the holder to stop the backup in the session that started it. The summary (backup_label,
tablespace_map, LSNs, WAL range) is persisted to the local spool, then written to every sink; then
post waits until the backup's last WAL file is archived (unless pre had --no-wait-archive). Exits 0
only if every sink holds the summary. Run it again after a failure: a stopped backup is reported
again, and a summary an earlier post left in the spool (exit 4) is delivered to the sinks that
miss it (exit 0 once every sink holds it).

  --id ID   the ID given to pre`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' } },
  async run(values, { progress, stderr }) {
    const id = requiredId(values);
    // Ctrl-C (or a backup program's timeout) ends only this client: the holder goes on with the
    // stop, and a second post reports it. Say so, rather than die silently with 130.
    const interrupted = (signal: NodeJS.Signals): void => {
      progress.end();
      stderr(
        `pg-split-backup post: interrupted by ${signal}. The stop goes on in the holder, which saves the summary to the spool and the sinks; run "pg-split-backup post --id ${id}" again to wait for it and see where the summary is. Until then this backup is not known to be good.\n`,
      );
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    const outcome = await stopBackup(id, { runtimeDir: runtimeDir(values), onProgress: (update) => progress.update(update) }).finally(() => {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
    });
    const { summary } = outcome;
    return {
      json: {
        ok: true,
        id,
        alreadyStopped: outcome.alreadyStopped,
        ...(outcome.deliveredFromSpool ? { deliveredFromSpool: true } : {}),
        startLsn: summary.startLsn,
        stopLsn: summary.stopLsn,
        startWalFile: summary.startWalFile,
        stopWalFile: summary.stopWalFile,
        timeline: summary.timeline,
        locations: outcome.locations,
        ...(outcome.receipts ? { receipts: outcome.receipts } : {}),
        summary: summaryOverview(summary),
      },
      text: lines(
        outcome.alreadyStopped ? `backup ${id} had already been stopped (at ${summary.stoppedAt})` : `backup ${id} stopped at ${summary.stopLsn}`,
        outcome.deliveredFromSpool === true && 'its summary, kept in the spool by an earlier post, is now delivered',
        `WAL needed:     ${summary.startWalFile} .. ${summary.stopWalFile} (timeline ${summary.timeline})`,
        'summary saved to:',
        ...outcome.locations.map((l) => `  ${l}`),
      ),
    };
  },
};
