/**
 * libpq's `connect_timeout` (whole seconds) in milliseconds: 0 or less waits forever, below 2 counts
 * as 2, as in libpq. Undefined when the text is not a whole number. Free of dependencies, so the
 * CLI can check `--dbname` without loading the driver.
 */
export function parseConnectTimeout(text: string): number | undefined {
  if (!/^\s*-?\d+\s*$/.test(text)) return undefined;
  const seconds = Number.parseInt(text, 10);
  return seconds <= 0 ? 0 : Math.max(2, seconds) * 1000;
}
