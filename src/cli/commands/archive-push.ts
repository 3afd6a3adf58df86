import { parseDuration, positiveDuration } from '../duration.js';
import { BackupError } from '../../errors.js';
import { COMMON_OPTIONS, required, text, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption, encryptionSettings } from '../encryption-flags.js';
import { ARCHIVE_HELP } from './archive-kit.js';

export const archivePushCommand: Command = {
  name: 'archive-push',
  summary: 'archive_command: store one WAL file in the archive, durably and write-once',
  usage: "pg-split-backup archive-push WALPATH --archive URL [--compress none|gzip|zstd] [--async [--spool-dir DIR] [--parallel N] [--timeout D] [--idle D]] [--json]   (archive_command = 'pg-split-backup archive-push %p --archive URL')",
  details: `Stores the WAL file at WALPATH (%p: relative to the data directory, where PostgreSQL runs the
command) in the archive and exits 0 only once it is stored durably: a directory gets a temp file,
fsync, a hard link into place (which never replaces a file) and a directory fsync; S3 a conditional
create with Content-MD5. The same file already archived with the same content (PostgreSQL archives
again after a crash) exits 0; other content exits 1 with WAL_CONFLICT and changes nothing. Any
failure exits non-zero, and PostgreSQL keeps the WAL and retries. Quiet on success (the server log
gets only failures) unless --verbose or --json.

  WALPATH         %p
${ARCHIVE_HELP}
  --compress C    none (default), gzip (stored as NAME.gz), zstd (NAME.zst; needs Node 22.15+,
                  which Node 20 lacks); archive-get, verify and the write-once check read them all
  --async         hand the file to a background pusher (started when none runs, exits when idle)
                  and exit once it reports the file stored; meanwhile it pushes the next .ready
                  files of pg_wal/archive_status ahead, in parallel. Exit 1 when it fails or
                  the target stays down for --timeout (PostgreSQL keeps the WAL and retries)
  --spool-dir DIR the pusher's acknowledgements, lock and log (pusher.log)
                  (default: pg_wal/pgsb-archive-push in the data directory)
  --parallel N    files the pusher stores at once (default 4; at most 32 ahead of PostgreSQL)
  --timeout D     how long to wait for the pusher (default 60s)
  --idle D        how long a pusher this call starts waits for new .ready files before it
                  exits (default 2s). Longer keeps it resident between segments, so the next
                  one does not pay its start (~0.4 s here) on the archiver's path
${ENCRYPTION_HELP}`,
  options: {
    ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS,
    archive: { type: 'string' },
    compress: { type: 'string' },
    async: { type: 'boolean' },
    'spool-dir': { type: 'string' },
    parallel: { type: 'string' },
    timeout: { type: 'string' },
    idle: { type: 'string' },
  },
  positionals: ['walpath'],
  async run(values, { verbose }) {
    const { assertWalCompression } = await import('../../restore/wal-compression.js');
    const compress = assertWalCompression(text(values, 'compress') ?? 'none');
    const walpath = required(values, 'walpath');
    const archive = required(values, 'archive');
    const spoolDirectory = text(values, 'spool-dir');
    const parallel = text(values, 'parallel');
    const timeout = text(values, 'timeout');
    const idle = text(values, 'idle');
    if (values.async !== true && (spoolDirectory ?? parallel ?? timeout ?? idle) !== undefined) {
      throw new BackupError('INVALID_OPTION', '--spool-dir, --parallel, --timeout and --idle go with --async.', { details: { option: 'async' } });
    }
    const result =
      values.async === true
        ? await (await import('../../agent/archive-pusher.js')).archivePushAsync(walpath, {
            archive,
            compress,
            ...(spoolDirectory !== undefined ? { spoolDirectory } : {}),
            ...(parallel !== undefined ? { parallel: Number(parallel) } : {}),
            ...(timeout !== undefined ? { timeoutMs: parseDuration(timeout, 'timeout') } : {}),
            ...(idle !== undefined ? { idleMs: positiveDuration(idle, 'idle') } : {}),
            ...encryptionSettings(values),
          })
        : await (await import('../../restore/archive-push.js')).archivePush(walpath, { archive, compress, ...(await encryptionOption(values)) });
    return {
      json: { ok: true, ...result },
      text: verbose ? `${result.walFile} ${result.written ? 'stored as' : 'was already stored as'} ${result.storedAs} in ${result.archive}` : '',
    };
  },
};
