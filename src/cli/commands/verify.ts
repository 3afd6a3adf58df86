import { openStore, openWalArchive, verifyRestoreWal } from '../../index.js';
import { COMMON_OPTIONS, lines, required, requiredId, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption } from '../encryption-flags.js';
import { targetTimelineFlag, timelineLine } from '../restore-flags.js';

export const verify: Command = {
  name: 'verify',
  summary: 'check that the WAL archive holds every file a backup needs (exit 5 if not)',
  usage: 'pg-split-backup verify --id ID --store URL --wal-archive URL [--target-timeline latest|current|N] [--json]',
  details: `Lists the archive once and checks every segment from the backup's start WAL file through its stop
WAL file (and the timeline history file above timeline 1), accepting .gz .lz4 .zst .bz2 .xz copies,
and the way to the timeline restore would recover onto (chosen from the history files as restore
does, or --target-timeline): that timeline's history file and the segments up to its first one.
Exit 0 when complete; exit 5 listing what is missing; exit 2 for a timeline that cannot hold the backup.

  --id ID             the backup ID
  --store URL         where its summary is
  --wal-archive URL   file:///dir, /dir or s3://bucket/prefix[?...]
  --target-timeline T latest, current or N, as restore takes it
${ENCRYPTION_HELP}`,
  options: { ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS, id: { type: 'string' }, store: { type: 'string' }, 'wal-archive': { type: 'string' }, 'target-timeline': { type: 'string' } },
  async run(values) {
    const id = requiredId(values);
    const encryption = await encryptionOption(values);
    const store = await openStore(required(values, 'store'), encryption);
    const archive = await openWalArchive(required(values, 'wal-archive'), encryption);
    const targetTimeline = targetTimelineFlag(values);
    const summary = await store.get(id);
    const result = await verifyRestoreWal(summary, archive, { assert: true, ...(targetTimeline !== undefined ? { targetTimeline } : {}) });
    return {
      json: { ok: true, ...result },
      text: lines(
        `backup ${id}: all ${result.needed.length} WAL files are in ${archive.name} (${result.needed[0]} .. ${result.needed[result.needed.length - 1]})`,
        `timeline: ${timelineLine(result.timeline)}`,
      ),
    };
  },
};
