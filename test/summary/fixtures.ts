import type { StopFacts } from '../../src/summary/build.js';

/** What a PostgreSQL 15 primary returns at stop, as plain values. */
const LABEL = `START WAL LOCATION: 0/9000028 (file 000000010000000000000009)
CHECKPOINT LOCATION: 0/9000060
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-12-01 10:00:00 UTC
LABEL: nightly-1
START TIMELINE: 1
`;

export function stopFacts(overrides: Partial<StopFacts> = {}): StopFacts {
  return {
    id: 'nightly-1',
    labelFile: LABEL,
    tablespaceMap: '',
    stopLsn: '0/9000138',
    walSegmentSize: 16 * 1024 * 1024,
    serverVersion: 150010,
    systemIdentifier: '7300000000000000001',
    startedAt: '2026-12-01T10:00:00.000Z',
    stoppedAt: '2026-12-01T10:05:00.000Z',
    tool: { name: 'pg-split-backup', version: '0.0.0-test' },
    ...overrides,
  };
}

