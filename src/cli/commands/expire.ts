import { parseDuration } from '../duration.js';
import { BackupError, expire, type ExpiryPolicy, openStore, openWalArchive } from '../../index.js';
import { listRunning } from '../../agent/index.js';
import { COMMON_OPTIONS, lines, required, strings, text, type Command, type Values } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionOption } from '../encryption-flags.js';
import { formatBytes } from './lifecycle-kit.js';

/** `--keep-within`: a duration (30d, 12h, 2w; beyond parseDuration's 366 days for long retention). */
function keepWithin(value: string): number {
  const long = /^(\d+)(d|w)$/.exec(value.trim());
  if (long) return Number(long[1]) * (long[2] === 'w' ? 7 : 1) * 86_400_000;
  return parseDuration(value, 'keep-within');
}

function expiryPolicy(values: Values): ExpiryPolicy {
  const last = text(values, 'keep-last');
  const within = text(values, 'keep-within');
  const ids = strings(values, 'keep');
  const given = [last !== undefined && '--keep-last', within !== undefined && '--keep-within', ids.length > 0 && '--keep'].filter(Boolean);
  if (given.length !== 1) {
    throw new BackupError('INVALID_OPTION', `Give exactly one of --keep-last N, --keep-within DURATION or --keep ID..., got ${given.length === 0 ? 'none' : given.join(' and ')}.`, {
      details: { option: 'keep-last' },
    });
  }
  if (last !== undefined) {
    if (!/^\d+$/.test(last) || Number(last) < 1) throw new BackupError('INVALID_OPTION', `--keep-last takes a whole number of at least 1, got ${last}.`, { details: { option: 'keep-last' } });
    return { keepLast: Number(last) };
  }
  if (within !== undefined) return { keepWithinMs: keepWithin(within) };
  return { keepIds: ids };
}

export const expireCommand: Command = {
  name: 'expire',
  summary: 'remove summaries outside a retention policy, then the WAL no kept backup needs',
  usage: 'pg-split-backup expire --store URL [--wal-archive URL] (--keep-last N | --keep-within DURATION | --keep ID...) [--dry-run] [--json]',
  details: `Applies one retention rule per cluster (the newest backup always stays); mirror your backup
program's retention of the data copies (docs/hooks.md). Summaries outside it are removed first,
then, with --wal-archive, the WAL no kept backup needs: each kept backup keeps its own range and
everything after its start on its timeline and the timelines that branch off it later (history
files), so point-in-time recovery from the oldest kept backup still works. No WAL is deleted when the
catalogue and the archive disagree (a gap in a kept backup's range, a missing history file, an
unreadable summary, several clusters in one store): exit 6 with the reasons. A backup posted while
expire runs is planned in before any WAL goes, and so is every backup running on this host (held
by a holder in the runtime directory: pre done, post not yet): the WAL from its start stays.

  --store URL             where the summaries are
  --wal-archive URL       the WAL archive to prune (file:///dir, /dir or s3://bucket/prefix[?...])
  --keep-last N           keep the N newest backups
  --keep-within DURATION  keep backups that stopped within DURATION (e.g. 36h, 30d, 8w)
  --keep ID               keep this backup (repeatable); the others go
  --dry-run               print exactly what would go, with sizes, and change nothing
${ENCRYPTION_HELP}`,
  options: {
    ...COMMON_OPTIONS, ...ENCRYPTION_OPTIONS,
    store: { type: 'string' },
    'wal-archive': { type: 'string' },
    'keep-last': { type: 'string' },
    'keep-within': { type: 'string' },
    keep: { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
  },
  async run(values) {
    const policy = expiryPolicy(values);
    const encryption = await encryptionOption(values);
    const store = await openStore(required(values, 'store'), encryption);
    const archiveUrl = text(values, 'wal-archive');
    const dryRun = values['dry-run'] === true;
    // Backups held on this host (pre run, post not yet) keep their WAL: their summaries are not in
    // the store yet. Only with an archive: without one no WAL goes.
    const runtimeDir = text(values, 'runtime-dir');
    const running = archiveUrl === undefined ? [] : await listRunning(runtimeDir !== undefined ? { runtimeDir } : {});
    const report = await expire({ store, policy, dryRun, running, ...(archiveUrl !== undefined ? { walArchive: await openWalArchive(archiveUrl, encryption) } : {}) });
    const { plan } = report;
    const wal = plan.wal;
    const verb = dryRun ? 'would remove' : 'removed';
    const walFiles = dryRun ? (wal?.remove ?? []) : (wal?.remove ?? []).filter((f) => report.removedWal.includes(f.name));
    const out = lines(
      `${dryRun ? 'dry run: ' : ''}${plan.remove.length} of ${plan.remove.length + plan.keep.length} summaries ${verb}${wal ? `; WAL: ${walFiles.length} files (${formatBytes(walFiles.reduce((n, f) => n + f.size, 0))}) ${verb}, ${wal.keepCount} files (${formatBytes(wal.keepBytes)}) kept` : ''}`,
      ...plan.remove.map((r) => `${verb} summary ${r.id} (${formatBytes(r.summarySize)})`),
      ...walFiles.map((f) => `${verb} WAL ${f.name} (${formatBytes(f.size)})`),
      ...plan.keep.map((k) => `kept summary ${k.id} (${k.reason})`),
      ...(wal?.pending.length ? [`not archived yet (kept backups need them): ${wal.pending.join(', ')}`] : []),
      ...running.map((b) => `kept the WAL from ${b.startWalFile} on for running backup ${b.id} (started ${b.startedAt}, not posted yet)`),
      ...(report.appeared.length ? [`appeared while expiring, their WAL spared: ${report.appeared.join(', ')}`] : []),
      ...report.staleTempFiles.map((name) => `${verb} ${name} (a crashed archive-push's temp file)`),
    );
    if (wal && wal.refused.length > 0) {
      throw new BackupError(
        'ARCHIVE_MISMATCH',
        `${dryRun ? 'Would delete' : 'Deleted'} no WAL: the catalogue and the WAL archive disagree:\n${wal.refused.map((r) => `  - ${r}`).join('\n')}\n${out}\nFix the archive or the store (or expire without --wal-archive) and run expire again.`,
        { details: { refused: wal.refused, removedSummaries: report.removedSummaries, dryRun } },
      );
    }
    return { json: { ok: true, ...report }, text: out };
  },
};
