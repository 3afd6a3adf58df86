import { listRunning } from '../../agent/index.js';
import { formatDuration } from '../duration.js';
import { COMMON_OPTIONS, lines, optionalId, type Command } from '../command-kit.js';
import { runtimeDir } from './hold-kit.js';

export const status: Command = {
  name: 'status',
  summary: 'list the running backups',
  usage: 'pg-split-backup status [--id ID] [--json]',
  details: `Lists the backups held in the runtime directory: ID, holder pid, start LSN, start time, how
long it has been held. With --id, only that backup; exit 3 (with the reason) if it is not running.

  --id ID   show only this backup`,
  options: { ...COMMON_OPTIONS, id: { type: 'string' } },
  async run(values) {
    const id = optionalId(values);
    const backups = await listRunning({ runtimeDir: runtimeDir(values), ...(id !== undefined ? { id } : {}) });
    const rows = backups.map((b) => [b.id, String(b.pid), b.state, b.startLsn, b.startedAt, formatDuration(b.heldForMs)]);
    const header = ['ID', 'PID', 'STATE', 'START LSN', 'STARTED AT', 'HELD FOR'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const format = (row: string[]): string => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
    return {
      json: { ok: true, backups },
      text: backups.length === 0 ? 'no backups running' : lines(format(header), ...rows.map(format)),
    };
  },
};
