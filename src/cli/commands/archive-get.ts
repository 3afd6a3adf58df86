import { BackupError, isBackupError } from '../../errors.js';
import { COMMON_OPTIONS, required, text, type Command } from '../command-kit.js';
import { ExitCode, exitCodeFor } from '../exit-codes.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption, encryptionSettings } from '../encryption-flags.js';
import { ARCHIVE_HELP } from './archive-kit.js';

export const archiveGetCommand: Command = {
  name: 'archive-get',
  summary: 'restore_command: fetch one WAL file from the archive (exit 1 if it is not there)',
  usage: "pg-split-backup archive-get WALFILE DESTINATION --archive URL [--prefetch N] [--queue-dir DIR] [--json]   (restore_command = 'pg-split-backup archive-get %f %p --archive URL')",
  details: `Copies WALFILE (%f) from the archive to DESTINATION (%p, relative to the data directory),
decompressing NAME.gz / NAME.zst copies. The file appears whole or not at all (temp file + rename).
Exit 1 (WAL_NOT_FOUND) when the archive does not have it: PostgreSQL asks for files that do not
exist (the next timeline's history, the segment after the last one) and takes exit 1 as "no such
file". Outside a standby, every other failure but bad input (the archive unreachable, a damaged file) exits 126,
so that PostgreSQL stops recovery instead of ending it at that file; a standby gets exit 1 and asks
again later. Quiet unless --verbose or --json.

  WALFILE         %f
  DESTINATION     %p
${ARCHIVE_HELP}
  --prefetch N    keep the N segments after the one asked for ready in a local queue, fetched in
                  parallel by a background prefetcher (default 8 for s3://, 0 = off for
                  directories); the queue is cleared when recovery ends or nobody asks for 60 s
  --queue-dir DIR the queue (default: pg_wal/pgsb-prefetch in the data directory)
${ENCRYPTION_HELP}`,
  options: { ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS, archive: { type: 'string' }, prefetch: { type: 'string' }, 'queue-dir': { type: 'string' } },
  positionals: ['walfile', 'destination'],
  async run(values, { verbose }) {
    const archive = required(values, 'archive');
    const prefetchText = text(values, 'prefetch');
    const { parseStoreUrl } = await import('../../stores/store-url.js');
    const prefetch = prefetchText === undefined ? (parseStoreUrl(archive).kind === 's3' ? 8 : 0) : Number(prefetchText);
    if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > 256) {
      throw new BackupError('INVALID_OPTION', `--prefetch takes 0 to 256 segments, got ${prefetchText}.`, { details: { option: 'prefetch' } });
    }
    const queueDirectory = text(values, 'queue-dir');
    const walFile = required(values, 'walfile');
    const destination = required(values, 'destination');
    let result;
    try {
      result =
        prefetch > 0
          ? await (await import('../../agent/wal-prefetch.js')).archiveGetPrefetched(walFile, destination, {
              archive,
              prefetch,
              ...(queueDirectory !== undefined ? { queueDirectory } : {}),
              ...encryptionSettings(values),
            })
          : await (await import('../../restore/archive-get.js')).archiveGet(walFile, destination, { archive, ...(await encryptionOption(values)) });
    } catch (error) {
      throw await answerForRecovery(error);
    }
    return { json: { ok: true, ...result }, text: verbose ? `${result.walFile} restored from ${result.storedAs}` : '' };
  },
};

/**
 * Outside a standby, any failure but "not there" must not exit 1: archive recovery would take the
 * file as missing and end at it, and the server would come up without the WAL after it. Such
 * failures get `details.stopsRecovery` (exit 126: PostgreSQL stops recovery, and a start after the
 * archive is fixed goes on from where it was). A standby asks again later, so there they exit as usual.
 */
async function answerForRecovery(error: unknown): Promise<unknown> {
  // Bad input (exit 2) is the same on every call, so it shows at the first file, long before consistency.
  if (isBackupError(error, 'WAL_NOT_FOUND') || exitCodeFor(error) === ExitCode.USAGE) return error;
  // restore_command runs from the data directory.
  if (await (await import('../../restore/recovery-mode.js')).isStandbyDataDirectory(process.cwd())) return error;
  const code = isBackupError(error) ? error.code : 'ARCHIVE_FAILED';
  const message = `${error instanceof Error ? error.message : String(error)} Not answered as a missing file, which would end archive recovery at it: recovery stops (exit 126); start the server again once the archive is fixed.`;
  return new BackupError(code, message, { cause: error, details: { ...(isBackupError(error) ? error.details : {}), stopsRecovery: true } });
}
