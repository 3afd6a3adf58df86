/** `PGSB_DEBUG=1` turns the holder's debug log on. */
export const DEBUG_VARIABLE = 'PGSB_DEBUG';

/**
 * Whether the holder logs at debug level: `PGSB_DEBUG=1`, or a `DEBUG` list (the `debug` package's
 * convention) naming `pg-split-backup`, `pg-split-backup:*` or `*`.
 */
export function debugEnabled(env: NodeJS.ProcessEnv): boolean {
  if (env[DEBUG_VARIABLE] !== undefined && env[DEBUG_VARIABLE] !== '' && env[DEBUG_VARIABLE] !== '0') return true;
  return (env.DEBUG ?? '')
    .split(/[\s,]+/)
    .some((name) => name === '*' || name === 'pg-split-backup' || name === 'pg-split-backup:*');
}
