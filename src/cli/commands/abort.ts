import { abortBackup } from '../../agent/index.js';
import { COMMON_OPTIONS, requiredId, type Command } from '../command-kit.js';
import { runtimeDir } from './hold-kit.js';

export const abort: Command = {
  name: 'abort',
  summary: 'end a running backup without a summary',
  usage: 'pg-split-backup abort --id ID [--json]',
  details: `Ends the backup's server session; the server discards the backup. Exit 3 when no backup with
this ID is running.

  --id ID   the ID given to pre`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' } },
  async run(values) {
    const id = requiredId(values);
    const result = await abortBackup(id, { runtimeDir: runtimeDir(values) });
    return { json: { ok: true, id, state: 'aborted', reason: result.reason }, text: `backup ${id} aborted` };
  },
};
