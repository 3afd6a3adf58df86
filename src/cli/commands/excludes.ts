import { BackupError, copyExclusions, EXCLUSION_FORMATS, type ExclusionFormat } from '../../index.js';
import { COMMON_OPTIONS, text, type Command } from '../command-kit.js';

export const excludes: Command = {
  name: 'excludes',
  summary: 'print what a copy of the data directory must leave out, in a backup tool’s syntax',
  usage: 'pg-split-backup excludes [--format list|rsync|tar|restic|borg|bacula|json] [--pg-major N] [--pgdata DIR]',
  details: `Prints the paths a copy must leave out (as PostgreSQL's own base backup does), relative to the data
directory, one pattern per line:
  list    plain patterns          tar     for tar -C PGDATA --exclude-from=FILE .
  rsync   for rsync --filter='merge FILE' PGDATA/ DEST/
  restic  for restic --exclude-file=FILE (absolute: needs --pgdata)
  borg    for borg create --patterns-from=FILE (needs --pgdata)
  bacula  an Options { Exclude = yes  Wild = ... } block for a Bacula or Bareos FileSet's
          Include { } (absolute: needs --pgdata)
  json    pattern and reason for each

  --format F     default list
  --pg-major N   the server's major version (default 18)
  --pgdata DIR   the data directory, for restic, borg and bacula`,
  options: { ...COMMON_OPTIONS, format: { type: 'string' }, 'pg-major': { type: 'string' }, pgdata: { type: 'string' } },
  async run(values) {
    const format = (text(values, 'format') ?? 'list') as ExclusionFormat;
    if (!EXCLUSION_FORMATS.includes(format)) {
      throw new BackupError('INVALID_OPTION', `--format takes ${EXCLUSION_FORMATS.join(', ')}, got ${format}.`, { details: { option: 'format' } });
    }
    const majorText = text(values, 'pg-major');
    const major = majorText === undefined ? undefined : Number(majorText);
    const pgdata = text(values, 'pgdata');
    const output = copyExclusions({ format, ...(major !== undefined ? { major } : {}), ...(pgdata !== undefined ? { pgdata } : {}) });
    return { json: { ok: true, format, patterns: output.trimEnd().split('\n') }, text: output.trimEnd() };
  },
};
