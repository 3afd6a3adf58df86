import { assertWalComplete, openStore, openWalArchive } from '../../index.js';
import { COMMON_OPTIONS, required, requiredId, type Command } from '../command-kit.js';

export const verify: Command = {
  name: 'verify',
  summary: 'check that the WAL archive holds every file a backup needs (exit 5 if not)',
  usage: 'pg-split-backup verify --id ID --store URL --wal-archive URL [--json]',
  details: `Lists the archive once and checks every segment from the backup's start WAL file through its stop
WAL file (and the timeline history file above timeline 1), accepting .gz .lz4 .zst .bz2 .xz copies.
Exit 0 when complete; exit 5 listing what is missing.

  --id ID             the backup ID
  --store URL         where its summary is
  --wal-archive URL   file:///dir, /dir or s3://bucket/prefix[?...]`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' }, store: { type: 'string' }, 'wal-archive': { type: 'string' } },
  async run(values) {
    const id = requiredId(values);
    const store = await openStore(required(values, 'store'));
    const archive = await openWalArchive(required(values, 'wal-archive'));
    const summary = await store.get(id);
    const result = await assertWalComplete(summary, archive);
    return {
      json: { ok: true, ...result },
      text: `backup ${id}: all ${result.needed.length} WAL files are in ${archive.name} (${result.needed[0]} .. ${result.needed[result.needed.length - 1]})`,
    };
  },
};
