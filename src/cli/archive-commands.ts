// PostgreSQL runs these once per WAL file: each command imports only what its own path needs, when
// it needs it (a prefetched archive-get: no S3 client, no AWS SDK, no compression code).
import { parseDuration } from './duration.js';
import { BackupError } from '../errors.js';
import { COMMON_OPTIONS, required, text, type Command } from './command-kit.js';

const ARCHIVE_HELP = `  --archive URL   file:///abs/dir, /abs/dir or s3://bucket/prefix[?endpoint=..&region=..&forcePathStyle=true]
                  (S3 credentials from the AWS chain: AWS_* variables or ~/.aws of the server's OS user)`;

const archivePushCommand: Command = {
  name: 'archive-push',
  summary: 'archive_command: store one WAL file in the archive, durably and write-once',
  usage: "pg-split-backup archive-push WALPATH --archive URL [--compress none|gzip|zstd] [--async [--spool-dir DIR] [--parallel N] [--timeout D]] [--json]   (archive_command = 'pg-split-backup archive-push %p --archive URL')",
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
  --timeout D     how long to wait for the pusher (default 60s)`,
  options: {
    ...COMMON_OPTIONS,
    archive: { type: 'string' },
    compress: { type: 'string' },
    async: { type: 'boolean' },
    'spool-dir': { type: 'string' },
    parallel: { type: 'string' },
    timeout: { type: 'string' },
  },
  positionals: ['walpath'],
  async run(values, { verbose }) {
    const { assertWalCompression } = await import('../restore/wal-compression.js');
    const compress = assertWalCompression(text(values, 'compress') ?? 'none');
    const walpath = required(values, 'walpath');
    const archive = required(values, 'archive');
    const spoolDirectory = text(values, 'spool-dir');
    const parallel = text(values, 'parallel');
    const timeout = text(values, 'timeout');
    if (values.async !== true && (spoolDirectory ?? parallel ?? timeout) !== undefined) {
      throw new BackupError('INVALID_OPTION', '--spool-dir, --parallel and --timeout go with --async.', { details: { option: 'async' } });
    }
    const result =
      values.async === true
        ? await (await import('../agent/archive-pusher.js')).archivePushAsync(walpath, {
            archive,
            compress,
            ...(spoolDirectory !== undefined ? { spoolDirectory } : {}),
            ...(parallel !== undefined ? { parallel: Number(parallel) } : {}),
            ...(timeout !== undefined ? { timeoutMs: parseDuration(timeout, 'timeout') } : {}),
          })
        : await (await import('../restore/archive-push.js')).archivePush(walpath, { archive, compress });
    return {
      json: { ok: true, ...result },
      text: verbose ? `${result.walFile} ${result.written ? 'stored as' : 'was already stored as'} ${result.storedAs} in ${result.archive}` : '',
    };
  },
};

const archiveGetCommand: Command = {
  name: 'archive-get',
  summary: 'restore_command: fetch one WAL file from the archive (exit 1 if it is not there)',
  usage: "pg-split-backup archive-get WALFILE DESTINATION --archive URL [--prefetch N] [--queue-dir DIR] [--json]   (restore_command = 'pg-split-backup archive-get %f %p --archive URL')",
  details: `Copies WALFILE (%f) from the archive to DESTINATION (%p, relative to the data directory),
decompressing NAME.gz / NAME.zst copies. The file appears whole or not at all (temp file + rename).
Exit 1 (WAL_NOT_FOUND) when the archive does not have it: PostgreSQL asks for files that do not
exist (the next timeline's history, the segment after the last one) and takes exit 1 as "no such
file". Quiet unless --verbose or --json.

  WALFILE         %f
  DESTINATION     %p
${ARCHIVE_HELP}
  --prefetch N    keep the N segments after the one asked for ready in a local queue, fetched in
                  parallel by a background prefetcher (default 8 for s3://, 0 = off for
                  directories); the queue is cleared when recovery ends or nobody asks for 60 s
  --queue-dir DIR the queue (default: pg_wal/pgsb-prefetch in the data directory)`,
  options: { ...COMMON_OPTIONS, archive: { type: 'string' }, prefetch: { type: 'string' }, 'queue-dir': { type: 'string' } },
  positionals: ['walfile', 'destination'],
  async run(values, { verbose }) {
    const archive = required(values, 'archive');
    const prefetchText = text(values, 'prefetch');
    const { parseStoreUrl } = await import('../stores/store-url.js');
    const prefetch = prefetchText === undefined ? (parseStoreUrl(archive).kind === 's3' ? 8 : 0) : Number(prefetchText);
    if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > 256) {
      throw new BackupError('INVALID_OPTION', `--prefetch takes 0 to 256 segments, got ${prefetchText}.`, { details: { option: 'prefetch' } });
    }
    const queueDirectory = text(values, 'queue-dir');
    const walFile = required(values, 'walfile');
    const destination = required(values, 'destination');
    const result =
      prefetch > 0
        ? await (await import('../agent/wal-prefetch.js')).archiveGetPrefetched(walFile, destination, { archive, prefetch, ...(queueDirectory !== undefined ? { queueDirectory } : {}) })
        : await (await import('../restore/archive-get.js')).archiveGet(walFile, destination, { archive });
    return { json: { ok: true, ...result }, text: verbose ? `${result.walFile} restored from ${result.storedAs}` : '' };
  },
};

/** The WAL archive commands. */
export const ARCHIVE_COMMANDS: readonly Command[] = [archivePushCommand, archiveGetCommand];
