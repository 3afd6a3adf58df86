import { archiveGet } from '../restore/archive-get.js';
import { archivePush } from '../restore/archive-push.js';
import { assertWalCompression } from '../restore/wal-compression.js';
import { COMMON_OPTIONS, required, text, type Command } from './command-kit.js';

const ARCHIVE_HELP = `  --archive URL   file:///abs/dir, /abs/dir or s3://bucket/prefix[?endpoint=..&region=..&forcePathStyle=true]
                  (S3 credentials from the AWS chain: AWS_* variables or ~/.aws of the server's OS user)`;

const archivePushCommand: Command = {
  name: 'archive-push',
  summary: 'archive_command: store one WAL file in the archive, durably and write-once',
  usage: "pg-split-backup archive-push WALPATH --archive URL [--compress none|gzip|zstd] [--json]   (archive_command = 'pg-split-backup archive-push %p --archive URL')",
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
                  which Node 20 lacks); archive-get, verify and the write-once check read them all`,
  options: { ...COMMON_OPTIONS, archive: { type: 'string' }, compress: { type: 'string' } },
  positionals: ['walpath'],
  async run(values, { verbose }) {
    const compress = assertWalCompression(text(values, 'compress') ?? 'none');
    const result = await archivePush(required(values, 'walpath'), { archive: required(values, 'archive'), compress });
    return {
      json: { ok: true, ...result },
      text: verbose ? `${result.walFile} ${result.written ? 'stored as' : 'was already stored as'} ${result.storedAs} in ${result.archive}` : '',
    };
  },
};

const archiveGetCommand: Command = {
  name: 'archive-get',
  summary: 'restore_command: fetch one WAL file from the archive (exit 1 if it is not there)',
  usage: "pg-split-backup archive-get WALFILE DESTINATION --archive URL [--json]   (restore_command = 'pg-split-backup archive-get %f %p --archive URL')",
  details: `Copies WALFILE (%f) from the archive to DESTINATION (%p, relative to the data directory),
decompressing NAME.gz / NAME.zst copies. The file appears whole or not at all (temp file + rename).
Exit 1 (WAL_NOT_FOUND) when the archive does not have it: PostgreSQL asks for files that do not
exist (the next timeline's history, the segment after the last one) and takes exit 1 as "no such
file". Quiet unless --verbose or --json.

  WALFILE         %f
  DESTINATION     %p
${ARCHIVE_HELP}`,
  options: { ...COMMON_OPTIONS, archive: { type: 'string' } },
  positionals: ['walfile', 'destination'],
  async run(values, { verbose }) {
    const result = await archiveGet(required(values, 'walfile'), required(values, 'destination'), { archive: required(values, 'archive') });
    return { json: { ok: true, ...result }, text: verbose ? `${result.walFile} restored from ${result.storedAs}` : '' };
  },
};

/** The WAL archive commands. */
export const ARCHIVE_COMMANDS: readonly Command[] = [archivePushCommand, archiveGetCommand];
