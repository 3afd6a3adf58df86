import { BackupError } from '../errors.js';
import type { CallOptions, LabelStore } from '../sinks/contract.js';
import { parseBackupLabel } from '../summary/backup-label.js';
import { compareLsn } from '../summary/lsn.js';
import type { BackupSummary } from '../summary/summary.js';
import { majorOf, type DataDirectoryFacts } from './data-directory.js';

/** How far the other summaries are read to name the backup a mismatched copy belongs to. */
const MAX_SUMMARIES_SEARCHED = 1000;

/**
 * Where a copy's pg_control checkpoint lies against a backup's window: `pg_backup_start` returns
 * after its checkpoint, so a copy made before stop has a checkpoint in [CHECKPOINT LOCATION, stop
 * LSN] (on a standby: the restartpoint the backup started from, up to the stop point).
 */
export function checkpointWithin(summary: BackupSummary, checkpointLsn: string): 'before' | 'within' | 'after' {
  if (compareLsn(checkpointLsn, parseBackupLabel(summary.labelFile).checkpointLsn) < 0) return 'before';
  return compareLsn(checkpointLsn, summary.stopLsn) > 0 ? 'after' : 'within';
}

/** The other backups in `store` whose window holds the copy's checkpoint (read errors skip a summary). */
async function backupsOfCopy(store: LabelStore, facts: DataDirectoryFacts, except: string, options: CallOptions): Promise<string[]> {
  const ids = (await store.list(options).catch(() => [] as string[])).filter((id) => id !== except).slice(-MAX_SUMMARIES_SEARCHED);
  const found: string[] = [];
  for (const id of ids) {
    const other = await store.get(id, options).catch(() => undefined);
    if (other?.systemIdentifier === facts.systemIdentifier && checkpointWithin(other, facts.checkpointLsn) === 'within') found.push(id);
  }
  return found;
}

/**
 * Refuses a data copy that is not the copy of `summary`'s backup: another major, another cluster,
 * or a copy whose pg_control checkpoint lies outside the backup's window (the copy of an earlier
 * or a later backup: recovery from this label would start or end at the wrong place and lose
 * data silently). Names the backup in `store` the copy seems to belong to.
 * @throws BackupError `LABEL_MISMATCH`.
 */
export async function assertCopyOfBackup(summary: BackupSummary, facts: DataDirectoryFacts, pgdata: string, store: LabelStore, options: CallOptions = {}): Promise<void> {
  const major = majorOf(summary.serverVersion);
  if (major !== facts.major) {
    throw new BackupError('LABEL_MISMATCH', `Backup ${summary.id} is of PostgreSQL ${major}, but ${pgdata} holds PostgreSQL ${facts.major}: this is not its data copy.`, {
      details: { summaryMajor: major, dataMajor: facts.major },
    });
  }
  if (summary.systemIdentifier !== facts.systemIdentifier) {
    throw new BackupError(
      'LABEL_MISMATCH',
      `Backup ${summary.id} was taken from the cluster with system identifier ${summary.systemIdentifier}, but ${pgdata} belongs to ${facts.systemIdentifier}: this is not its data copy.`,
      { details: { summarySystemIdentifier: summary.systemIdentifier, dataSystemIdentifier: facts.systemIdentifier } },
    );
  }
  // A standby backup's restore installs the summary's own pg_control: a second run finds that one.
  const ownControl = summary.attachments?.find((a) => a.name === 'global/pg_control');
  if (ownControl !== undefined && ownControl.body.equals(facts.pgControl)) return;
  const where = checkpointWithin(summary, facts.checkpointLsn);
  if (where === 'within') return;
  const candidates = await backupsOfCopy(store, facts, summary.id, options);
  const checkpoint = parseBackupLabel(summary.labelFile).checkpointLsn;
  throw new BackupError(
    'LABEL_MISMATCH',
    `${pgdata} is not the data copy of backup ${summary.id}: its pg_control checkpoint ${facts.checkpointLsn} is ${where === 'before' ? 'before' : 'after'} that backup's window (${checkpoint} .. ${summary.stopLsn}), so the copy was made ${where === 'before' ? 'before the backup started' : 'after it ended'}. ${
      candidates.length > 0 ? `It looks like the copy of backup ${candidates.join(' or ')}: restore that ID.` : `No backup in ${store.name} matches it.`
    } Nothing was changed.`,
    { details: { id: summary.id, copyCheckpointLsn: facts.checkpointLsn, backupCheckpointLsn: checkpoint, stopLsn: summary.stopLsn, copyOf: candidates } },
  );
}
