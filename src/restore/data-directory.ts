import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../errors.js';

/** Facts read from a (restored, stopped) data directory before anything in it is changed. */
export interface DataDirectoryFacts {
  /** `PG_VERSION`: the major, e.g. 15 (10+). */
  readonly major: number;
  /** The first 8 bytes of `global/pg_control`, little-endian uint64, as decimal. */
  readonly systemIdentifier: string;
  /** Owner of `PG_VERSION`: files the restore writes get the same. */
  readonly uid: number;
  readonly gid: number;
  /** pid in `postmaster.pid`, if the file exists. */
  readonly postmasterPid: number | undefined;
}

/** The major of a `server_version_num` (10+). */
export function majorOf(serverVersion: number): number {
  return Math.floor(serverVersion / 10000);
}

/** Reads PG_VERSION, pg_control's system identifier, ownership and postmaster.pid. */
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
  const control = await open(join(pgdata, 'global', 'pg_control'), 'r').catch((error: Error) => {
    throw new BackupError('INVALID_OPTION', `${pgdata}/global/pg_control cannot be read: the data copy is incomplete.`, { cause: error, details: { pgdata } });
  });
  let systemIdentifier: string;
  try {
    const buffer = Buffer.alloc(8);
    const { bytesRead } = await control.read(buffer, 0, 8, 0);
    if (bytesRead < 8) throw new BackupError('INVALID_OPTION', `${pgdata}/global/pg_control is truncated.`);
    systemIdentifier = buffer.readBigUInt64LE(0).toString();
  } finally {
    await control.close();
  }
  let postmasterPid: number | undefined;
  try {
    const pid = Number((await readFile(join(pgdata, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    postmasterPid = Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return { major, systemIdentifier, uid: owner.uid, gid: owner.gid, postmasterPid };
}
