import { archiveGetCommand, archivePushCommand, BackupError, quoteConfValue, WAL_COMPRESSIONS, type WalCompression } from '../../index.js';
import { COMMON_OPTIONS, lines, required, text, type Command } from '../command-kit.js';
import { positiveDuration } from '../duration.js';
import { ENCRYPTION_OPTIONS, encryptionSettings } from '../encryption-flags.js';

export const archiveConfig: Command = {
  name: 'archive-config',
  summary: 'print the archive_command and restore_command lines for postgresql.conf, quoted',
  usage: 'pg-split-backup archive-config --archive URL [--async [--spool-dir DIR] [--idle D]] [--compress C] [--prefetch N] [--program P] [--encryption-key-file F]... [--json]',
  details: `Prints archive_mode, archive_command and restore_command for postgresql.conf, each quoted for
the server's configuration parser and its shell (a literal % doubled, a ' doubled): the lines
archive-push and archive-get want. With --async, archive_command starts with a shell test that
answers without starting Node when the background pusher has stored the very file asked for
(a hard link beside its acknowledgement; test -ef, in dash and bash); for an S3 archive (or
--prefetch N), restore_command starts with the shell's take of a prefetched segment.

  --archive URL            file:///abs/dir, /abs/dir or s3://bucket/prefix[?...]
  --async                  archive-push --async (with the shell fast path)
  --spool-dir DIR          the pusher's spool (default pg_wal/pgsb-archive-push)
  --idle D                 archive-push --idle D: how long the pusher stays after its last
                           segment (default 2s)
  --compress C             none (default), gzip, zstd
  --prefetch N             archive-get --prefetch N (default: 8 for s3://, 0 for directories)
  --program P              how the server's shell starts the CLI (default: pg-split-backup on
                           the server user's PATH), e.g. '/usr/bin/node /opt/pgsb/dist/cli/main.js'
  --encryption-key-file F  written into both lines (paths, never keys); repeatable
  --require-encryption     archive-get refuses plaintext files`,
  options: {
    ...COMMON_OPTIONS,
    ...ENCRYPTION_OPTIONS,
    archive: { type: 'string' },
    async: { type: 'boolean' },
    'spool-dir': { type: 'string' },
    idle: { type: 'string' },
    compress: { type: 'string' },
    prefetch: { type: 'string' },
    program: { type: 'string' },
  },
  async run(values) {
    const archive = required(values, 'archive');
    const compress = text(values, 'compress') ?? 'none';
    if (!(WAL_COMPRESSIONS as readonly string[]).includes(compress)) throw new BackupError('INVALID_OPTION', `--compress takes ${WAL_COMPRESSIONS.join(', ')}.`, { details: { option: 'compress' } });
    const prefetchText = text(values, 'prefetch');
    const prefetch = prefetchText === undefined ? undefined : Number(prefetchText);
    if (prefetch !== undefined && (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > 256)) {
      throw new BackupError('INVALID_OPTION', `--prefetch takes 0 to 256 segments, got ${prefetchText}.`, { details: { option: 'prefetch' } });
    }
    const program = text(values, 'program');
    const spoolDirectory = text(values, 'spool-dir');
    const idle = text(values, 'idle');
    if (values.async !== true && (spoolDirectory ?? idle) !== undefined) throw new BackupError('INVALID_OPTION', '--spool-dir and --idle go with --async.', { details: { option: 'async' } });
    const settings = encryptionSettings(values);
    const shared = { ...(program !== undefined ? { program } : {}), ...settings };
    const archiveCommand = archivePushCommand(archive, {
      ...shared,
      compress: compress as WalCompression,
      ...(values.async === true ? { async: true } : {}),
      ...(spoolDirectory !== undefined ? { spoolDirectory } : {}),
      ...(idle !== undefined ? { pusherIdleMs: positiveDuration(idle, 'idle') } : {}),
    });
    const restoreCommand = archiveGetCommand(archive, { ...shared, ...(prefetch !== undefined ? { prefetch } : {}) });
    return {
      json: { ok: true, archiveCommand, restoreCommand },
      text: lines('archive_mode = on', `archive_command = ${quoteConfValue(archiveCommand)}`, `restore_command = ${quoteConfValue(restoreCommand)}`),
    };
  },
};
