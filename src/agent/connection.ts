import { BackupError } from '../errors.js';
import { parseConnectTimeout } from '../postgres/connect-timeout.js';

/**
 * What the holder connects with: a `postgresql://` URI, or a database name with everything else
 * from the PG* environment and ~/.pgpass (as psql does), or nothing at all (PG* only).
 */
export type HolderConnection = { readonly uri: string } | { readonly database: string } | Record<string, never>;

/**
 * Reads `--dbname` as psql does, within what the library supports: a `postgresql://` (or
 * `postgres://`) URI, or a plain database name. Key/value conninfo strings are refused.
 * @throws BackupError `INVALID_OPTION`, with the password masked.
 */
export function parseDbname(value: string | undefined): HolderConnection {
  if (value === undefined || value === '') return {};
  if (/^postgres(ql)?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch (error) {
      throw new BackupError('INVALID_OPTION', `--dbname ${maskConnectionString(value)} is not a valid postgresql:// URI.`, { cause: error, details: { option: 'dbname' } });
    }
    const timeout = url.searchParams.get('connect_timeout');
    if (timeout !== null && parseConnectTimeout(timeout) === undefined) {
      throw new BackupError('INVALID_OPTION', `--dbname: connect_timeout must be a whole number of seconds, got ${JSON.stringify(timeout)}.`, { details: { option: 'dbname' } });
    }
    return { uri: value };
  }
  if (/[=\s]/.test(value)) {
    throw new BackupError(
      'INVALID_OPTION',
      '--dbname takes a postgresql:// URI or a database name; key=value connection strings are not supported. Write e.g. postgresql://user@host:5432/dbname, or use PGHOST/PGUSER/... and ~/.pgpass.',
      { details: { option: 'dbname' } },
    );
  }
  return { database: value };
}

/** A connection string fit for messages and logs: any password replaced by `***`. */
export function maskConnectionString(value: string): string {
  let masked = value;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value);
  if (scheme !== null) {
    // As URL parsers do: the authority ends at the first / ? #; the user info at its last @.
    const rest = value.slice(scheme[0].length);
    const end = rest.search(/[/?#]/);
    const authority = end < 0 ? rest : rest.slice(0, end);
    const at = authority.lastIndexOf('@');
    const colon = authority.indexOf(':');
    if (at >= 0 && colon >= 0 && colon < at) {
      masked = `${scheme[0]}${authority.slice(0, colon)}:***${rest.slice(at)}`;
    }
  }
  return masked.replace(/([?&]password=)[^&#]*/gi, '$1***');
}
