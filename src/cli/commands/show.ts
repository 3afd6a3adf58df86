import { summaryOverview } from '../../index.js';
import { openStore } from '../../index.js';
import { COMMON_OPTIONS, lines, required, requiredId, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption } from '../encryption-flags.js';

export const show: Command = {
  name: 'show',
  summary: 'show one summary from a store, checksums verified',
  usage: 'pg-split-backup show --id ID --store URL [--json]',
  details: `Reads a backup's summary from a store and verifies its checksums (exit 2, CORRUPT_SUMMARY, when
they fail; exit 3 when the store has no summary with that ID).

  --id ID       the backup ID
  --store URL   file:///abs/dir, /abs/dir or s3://bucket/prefix[?...]
${ENCRYPTION_HELP}`,
  options: { ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS, id: { type: 'string' }, store: { type: 'string' } },
  async run(values) {
    const id = requiredId(values);
    const store = await openStore(required(values, 'store'), await encryptionOption(values));
    const summary = await store.get(id);
    return {
      json: { ok: true, store: store.name, summary: summaryOverview(summary) },
      text: lines(
        `backup ${summary.id} (${store.name})`,
        `server version: ${summary.serverVersion}, system identifier ${summary.systemIdentifier}, from ${summary.backupFrom}`,
        `started:        ${summary.startedAt} at ${summary.startLsn}`,
        `stopped:        ${summary.stoppedAt} at ${summary.stopLsn}`,
        `WAL needed:     ${summary.startWalFile} .. ${summary.stopWalFile} (timeline ${summary.timeline}, ${summary.walSegmentSize / 1048576} MiB segments)`,
        `tablespaces:    ${summary.tablespaceMap === '' ? 'none' : summary.tablespaceMap.trimEnd().split('\n').length}`,
        '--- backup_label',
        summary.labelFile.trimEnd(),
        ...(summary.tablespaceMap === '' ? [] : ['--- tablespace_map', summary.tablespaceMap.trimEnd()]),
      ),
    };
  },
};
