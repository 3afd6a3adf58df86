import { openStore } from '../../index.js';
import { COMMON_OPTIONS, required, type Command } from '../command-kit.js';

export const list: Command = {
  name: 'list',
  summary: 'list the summaries in a store',
  usage: 'pg-split-backup list --store URL [--json]',
  details: `Lists the IDs of the complete summaries in a store (a sink URL as given to pre).

  --store URL   file:///abs/dir, /abs/dir or s3://bucket/prefix[?...]`,
  options: { ...COMMON_OPTIONS, store: { type: 'string' } },
  async run(values) {
    const store = await openStore(required(values, 'store'));
    const ids = await store.list();
    return { json: { ok: true, store: store.name, ids }, text: ids.join('\n') };
  },
};
