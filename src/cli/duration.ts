import { BackupError } from '../errors.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_MS = 366 * 86_400_000;

/**
 * Parses a duration into milliseconds: `90s`, `30m`, `24h`, `1d`, `500ms`, `1.5h`, or a sum such
 * as `1h30m`. A bare number means seconds; `0` means none.
 * @throws BackupError `INVALID_OPTION` naming `option`.
 *
 * @example parseDuration('1h30m', 'max-hold') // 5400000
 */
export function parseDuration(text: string, option: string): number {
  const invalid = (why: string): BackupError =>
    new BackupError('INVALID_OPTION', `--${option}: ${JSON.stringify(text)} ${why} (use e.g. 90s, 30m, 24h, 1d, 1h30m).`, { details: { option } });
  const trimmed = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return check(Number(trimmed) * 1000);
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) throw invalid('is not a duration');
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(amount) * UNITS[unit!]!;
  return check(total);

  function check(ms: number): number {
    if (!Number.isFinite(ms) || ms > MAX_MS) throw invalid('is too long (at most 366d)');
    return Math.round(ms);
  }
}

/** {@link parseDuration}, refusing `0` (at least 1 ms). @throws BackupError `INVALID_OPTION` naming `option`. */
export function positiveDuration(text: string, option: string): number {
  const ms = parseDuration(text, option);
  if (ms < 1) throw new BackupError('INVALID_OPTION', `--${option} must be longer than 0.`, { details: { option } });
  return ms;
}

/** A short human form of a duration: `2h 05m`, `3m 07s`, `42s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${two(h)}h`;
  if (h > 0) return `${h}h ${two(m)}m`;
  if (m > 0) return `${m}m ${two(sec)}s`;
  return `${sec}s`;
}
