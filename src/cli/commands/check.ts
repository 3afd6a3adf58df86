import { BackupError, checkChain, openStore, openWalArchive } from '../../index.js';
import { parseDuration } from '../duration.js';
import { COMMON_OPTIONS, lines, required, text, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption } from '../encryption-flags.js';

/** `--dbname` as pre takes it: a URI, a database name, or nothing (PG* env and ~/.pgpass). */
function connectionOf(dbname: string | undefined): string | { database: string } | Record<string, never> {
  if (dbname === undefined || dbname === '') return {};
  return /^postgres(ql)?:\/\//.test(dbname) ? dbname : { database: dbname };
}

export const check: Command = {
  name: 'check',
  summary: 'prove the whole chain on a running server: settings, commands, store, archive, a WAL switch read back (exit 8 if not)',
  usage: 'pg-split-backup check --store URL --wal-archive URL [--dbname URI] [--archive-timeout D] [--encryption-key-file F]... [--json]',
  details: `Connects and checks, in order: the connection and the role's privileges (backup functions,
pg_switch_wal), wal_level, archive_mode, that archive_command is pg-split-backup archive-push into
--wal-archive (and a standby's restore_command archive-get from it), the store (listed; a probe
object written, read back and removed), that the store's newest summaries are this cluster's,
then switches WAL and waits for that segment in the archive, reads it back (decrypted,
decompressed) and checks it is a whole segment of this cluster. Every check is printed with ok,
FAILED (its own error code) or skipped; exit 0 when none failed, 8 (CHECK_FAILED) otherwise.

  --store URL          the summary store (as given to pre --sink)
  --wal-archive URL    the archive archive_command writes to
  --dbname URI         a postgresql:// URI or database name (PG* env and ~/.pgpass fill in the rest)
  --archive-timeout D  how long the switched segment may take to arrive (default 60s)
${ENCRYPTION_HELP}`,
  options: { ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS, store: { type: 'string' }, 'wal-archive': { type: 'string' }, dbname: { type: 'string' }, 'archive-timeout': { type: 'string' } },
  async run(values) {
    const encryption = await encryptionOption(values);
    const walArchiveUrl = required(values, 'wal-archive');
    const store = await openStore(required(values, 'store'), encryption);
    const walArchive = await openWalArchive(walArchiveUrl, encryption);
    const timeout = text(values, 'archive-timeout');
    const report = await checkChain({
      connection: connectionOf(text(values, 'dbname')),
      store,
      walArchive,
      walArchiveUrl,
      ...(timeout !== undefined ? { archiveTimeoutMs: parseDuration(timeout, 'archive-timeout') } : {}),
    });
    const out = lines(...report.checks.map((c) => `${c.status === 'ok' ? 'ok     ' : c.status === 'failed' ? 'FAILED ' : 'skipped'} ${c.name.padEnd(16)} ${c.code ? `${c.code}: ` : ''}${c.detail}`));
    if (!report.ok) {
      const failed = report.checks.filter((c) => c.status === 'failed');
      throw new BackupError('CHECK_FAILED', `${out}\n${failed.length} check(s) failed.`, { details: { ...report } });
    }
    return { json: { ...report }, text: out };
  },
};
