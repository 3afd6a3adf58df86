// A restored copy keeps its source's archive_command: started with archiving on, it pushes its new
// timeline into the production archive (how a test restore forks production's history). Restore
// reads the copy's own configuration files to say so.
import { join } from 'node:path';
import { readFileIfExists } from '../util/durable-fs.js';
import type { StoreUrl } from '../stores/store-url.js';

/** A setting's value in a postgresql.conf-style text, the last assignment winning; `undefined` when unset. */
export function confSetting(text: string, name: string): string | undefined {
  let value: string | undefined;
  const line = new RegExp(`^\\s*${name}\\s*=?\\s*('(?:[^'\\\\]|''|\\\\.)*'|[^\\s#]*)`, 'i');
  for (const raw of text.split('\n')) {
    const m = line.exec(raw);
    if (!m) continue;
    const v = m[1]!;
    value = v.startsWith("'") ? v.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, '$1') : v;
  }
  return value;
}

/** Whether the copy would archive into `archive`: archive_mode on and archive_command naming it (as far as the copy's own postgresql.conf and postgresql.auto.conf tell). */
export async function archivesIntoSameArchive(pgdata: string, archive: StoreUrl): Promise<boolean> {
  const bodies = await Promise.all(['postgresql.conf', 'postgresql.auto.conf'].map(async (f) => (await readFileIfExists(join(pgdata, f)))?.toString('utf8') ?? ''));
  const all = bodies.join('\n');
  const mode = (confSetting(all, 'archive_mode') ?? 'off').toLowerCase();
  if (!['on', 'always', 'true', 'yes', '1'].includes(mode)) return false;
  const command = confSetting(all, 'archive_command') ?? '';
  const needle = (archive.kind === 'file' ? archive.directory : `s3://${archive.bucket}/${archive.prefix}`).replace(/\/+$/, '');
  return needle !== '' && command.includes(needle);
}
