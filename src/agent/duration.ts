import { BackupError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `90s`, `30m`, `24h`, `1d` or `500ms` (a bare number means seconds)
 * into milliseconds.
 * @throws BackupError `INVALID_OPTION` naming `what`.
 */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (match === null) {
    throw new BackupError('INVALID_OPTION', `${what}: "${text}" is not a duration (use e.g. 90s, 30m, 24h, 1d).`, { details: { option: what } });
  }
  const ms = Math.round(Number(match[1]) * UNITS[match[2] ?? 's']!);
  if (!Number.isFinite(ms) || ms > 366 * UNITS.d!) throw new BackupError('INVALID_OPTION', `${what}: "${text}" is too long.`, { details: { option: what } });
  return ms;
}
