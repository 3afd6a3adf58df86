import type { HolderStatus } from '../../src/agent/protocol.js';
import type { BackupRecord } from '../../src/agent/state/record.js';

/** What a running backup's record and its holder's status share (the protocol's HELD schema). */
const HELD = {
  id: 'b1',
  state: 'running',
  pid: 42,
  startLsn: '0/2000028',
  startWalFile: '000000010000000000000002',
  timeline: 1,
  serverVersion: 150000,
  startedAt: '2026-12-01T10:00:00.000Z',
  maxHoldMs: 0,
  sinks: ['file:///s'],
} as const satisfies Partial<BackupRecord> & Partial<HolderStatus>;

/** A running backup's record, as a holder writes it; `extra` overrides any field. */
export function sampleRecord(extra: Partial<BackupRecord> = {}): BackupRecord {
  return { v: 1, ...HELD, spoolDirectory: '/spool', ...extra };
}

/** A held backup's status, as a holder answers `status`. */
export function sampleStatus(extra: Partial<HolderStatus> = {}): HolderStatus {
  return { ...HELD, runtimeDir: '/run/rt', log: '/run/rt/b1.log', heldForMs: 1000, ...extra };
}
