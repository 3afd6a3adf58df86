import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../errors.js';
import { formatLsn } from '../summary/lsn.js';
import { readFileIfExists } from '../util/durable-fs.js';

/** Facts read from a (restored, stopped) data directory before anything in it is changed. */
export interface DataDirectoryFacts {
  /** `PG_VERSION`: the major, e.g. 15 (10+). */
  readonly major: number;
  /** The first 8 bytes of `global/pg_control`, little-endian uint64, as decimal. */
  readonly systemIdentifier: string;
  /**
   * pg_control's latest checkpoint location (`pg_controldata` "Latest checkpoint location"), as the
   * copy has it: for a copy made during a backup, inside [its CHECKPOINT LOCATION, its stop LSN].
   */
  readonly checkpointLsn: string;
  /** `global/pg_control` as it is now: compared with a summary's own pg_control on a second run. */
  readonly pgControl: Buffer;
  /** Owner of `PG_VERSION`: files the restore writes get the same. */
  readonly uid: number;
  readonly gid: number;
  /** The lines of `postmaster.pid`, if the file exists. */
  readonly postmasterPid: readonly string[] | undefined;
}

/** The major of a `server_version_num` (10+). */
export function majorOf(serverVersion: number): number {
  return Math.floor(serverVersion / 10000);
}

// ControlFileData (pg_control.h), the same in 10-18: system_identifier uint64 @0, pg_control_version,
// catalog_version_no and state (4 bytes each), time (int64, aligned) @24, checkPoint (XLogRecPtr) @32.
const SYSTEM_IDENTIFIER_OFFSET = 0;
const CHECKPOINT_OFFSET = 32;

/** Reads PG_VERSION, pg_control's system identifier and checkpoint, ownership and postmaster.pid. */
export async function readDataDirectory(pgdata: string): Promise<DataDirectoryFacts> {
  let versionText: string;
  try {
    versionText = await readFile(join(pgdata, 'PG_VERSION'), 'utf8');
  } catch (error) {
    throw new BackupError('INVALID_OPTION', `${pgdata} is not a PostgreSQL data directory (no PG_VERSION): restore the data backup there first.`, {
      cause: error,
      details: { pgdata },
    });
  }
  const major = Number(versionText.trim());
  if (!Number.isInteger(major) || major < 10) throw new BackupError('UNSUPPORTED_SERVER', `${pgdata}/PG_VERSION says ${versionText.trim()}; PostgreSQL 10 or later is needed.`);
  const owner = await stat(join(pgdata, 'PG_VERSION'));
  const pgControl = await readFile(join(pgdata, 'global', 'pg_control')).catch((error: Error) => {
    throw new BackupError('INVALID_OPTION', `${pgdata}/global/pg_control cannot be read: the data copy is incomplete.`, { cause: error, details: { pgdata } });
  });
  if (pgControl.length < CHECKPOINT_OFFSET + 8) throw new BackupError('INVALID_OPTION', `${pgdata}/global/pg_control is truncated: the data copy is incomplete.`, { details: { pgdata } });
  const pid = await readFileIfExists(join(pgdata, 'postmaster.pid'));
  return {
    major,
    systemIdentifier: pgControl.readBigUInt64LE(SYSTEM_IDENTIFIER_OFFSET).toString(),
    checkpointLsn: formatLsn(pgControl.readBigUInt64LE(CHECKPOINT_OFFSET)),
    pgControl,
    uid: owner.uid,
    gid: owner.gid,
    postmasterPid: pid?.toString('utf8').split('\n'),
  };
}
