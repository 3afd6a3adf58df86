import type { ArchiverState } from '../postgres/archiver-facts.js';
import { readArchiverState } from '../postgres/archiver-state.js';
import { connect } from '../postgres/connect.js';
import type { ConnectionOptions } from '../postgres/connection-config.js';
import { closeClient } from '../postgres/held-backup.js';
import type { CallOptions } from '../sinks/contract.js';

export type { ArchiverState } from '../postgres/archiver-facts.js';

/**
 * The server's archiver: the segment being written, the last one archived, the lag between them in
 * segments, failures. One short connection (no retries: a monitor asks again at its next run).
 * @throws BackupError `CONNECTION_FAILED`.
 */
export async function readArchiverStatus(connection: ConnectionOptions, options: CallOptions = {}): Promise<ArchiverState> {
  const client = await connect(connection, { applicationName: 'pg-split-backup info', retries: 0, keepAliveInitialDelayMillis: 10_000, connectionTimeoutMillis: 10_000, ...(options.signal ? { signal: options.signal } : {}) });
  try {
    return await readArchiverState(client);
  } finally {
    await closeClient(client, 1000);
  }
}
