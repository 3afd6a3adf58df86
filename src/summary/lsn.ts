import { BackupError } from '../errors.js';

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** True when `text` is an LSN as PostgreSQL prints it (`%X/%X`, e.g. `0/2000028`). */
export function isLsn(text: unknown): text is string {
  return typeof text === 'string' && LSN_PATTERN.test(text);
}

/**
 * Parses an LSN (`16/B374D848`) into a 64-bit position.
 * @throws BackupError `INVALID_OPTION` when `text` is not an LSN.
 * @example parseLsn('0/2000028') // 33554472n
 */
export function parseLsn(text: string): bigint {
  const match = typeof text === 'string' ? LSN_PATTERN.exec(text) : null;
  if (match === null) throw new BackupError('INVALID_OPTION', `Not an LSN: ${JSON.stringify(text)} (expected e.g. 0/2000028).`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/**
 * Formats a position as PostgreSQL does (`%X/%X`: upper-case hex, no leading zeros).
 * @example formatLsn(33554472n) // '0/2000028'
 */
export function formatLsn(lsn: bigint): string {
  if (lsn < 0n || lsn > 0xffffffffffffffffn) throw new BackupError('INVALID_OPTION', `LSN out of range: ${lsn}.`);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Orders two LSNs given as text or positions: -1, 0 or 1. */
export function compareLsn(a: string | bigint, b: string | bigint): -1 | 0 | 1 {
  const x = typeof a === 'bigint' ? a : parseLsn(a);
  const y = typeof b === 'bigint' ? b : parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
