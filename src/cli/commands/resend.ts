import { BackupError } from '../../index.js';
import { isAbsolute } from 'node:path';
import { openStore, resendSpooled } from '../../index.js';
import { COMMON_OPTIONS, lines, optionalId, strings, text, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption } from '../encryption-flags.js';

export const resend: Command = {
  name: 'resend',
  summary: 'deliver summaries left in the local spool to their sinks',
  usage: 'pg-split-backup resend --sink URL [--sink URL]... [--id ID] [--spool-dir DIR] [--json]',
  details: `A post that exits 4 keeps the summary in the local spool. "post" again delivers it while the
runtime directory still has the backup's record; resend does it without one (after a reboot
emptied a tmpfs runtime directory, or for a library user's spool). Each summary is read back with
its checksums, written to every sink (the same summary already there counts as delivered), then
removed from the spool. Exit 0 when every summary reached every sink, 4 when one did not (it stays
in the spool), 3 when --id is not in the spool.

  --sink URL        where the summaries go (repeatable; at least one)
  --id ID           only this backup (default: every summary in the spool)
  --spool-dir DIR   the spool (default: $XDG_STATE_HOME/pg-split-backup/spool, else
                    ~/.local/state/pg-split-backup/spool)
${ENCRYPTION_HELP}`,
  options: { ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS, id: { type: 'string' }, sink: { type: 'string', multiple: true }, 'spool-dir': { type: 'string' } },
  async run(values) {
    const id = optionalId(values);
    const urls = strings(values, 'sink');
    if (urls.length === 0) throw new BackupError('INVALID_OPTION', 'Give at least one --sink URL: where the summaries go.', { details: { option: 'sink' } });
    const spoolDir = text(values, 'spool-dir');
    if (spoolDir !== undefined && !isAbsolute(spoolDir)) {
      throw new BackupError('INVALID_OPTION', `--spool-dir must be an absolute path, got ${spoolDir}.`, { details: { option: 'spool-dir' } });
    }
    const encryption = await encryptionOption(values);
    const sinks = await Promise.all(urls.map((url) => openStore(url, encryption)));
    const { spoolDirectory, delivered } = await resendSpooled({ sinks, ...(spoolDir === undefined ? {} : { spoolDirectory: spoolDir }), ...(id === undefined ? {} : { id }) });
    return {
      json: { ok: true, spoolDirectory, delivered },
      text: delivered.length === 0 ? `the spool ${spoolDirectory} holds no summaries` : lines(...delivered.map((d) => `${d.id} delivered to ${d.locations.join(', ')}`)),
    };
  },
};
