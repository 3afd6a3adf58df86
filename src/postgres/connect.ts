import type pg from 'pg';
import { BackupError } from '../errors.js';
import { parseConnectTimeout } from './connect-timeout.js';
import type { ConnectionOptions } from './connection-config.js';

/**
 * pg, pgpass and p-retry load on the first connection, not with the package: the CLI's commands
 * that never connect (post, status, archive-get...) start without them (docs/performance.md, row 2).
 */
async function drivers(): Promise<{ pg: typeof import('pg').default; pgpass: typeof import('pgpass').default; pRetry: typeof import('p-retry').default; AbortError: typeof import('p-retry').AbortError }> {
  const [{ default: pg }, { default: pgpass }, { default: pRetry, AbortError }] = await Promise.all([import('pg'), import('pgpass'), import('p-retry')]);
  return { pg, pgpass, pRetry, AbortError };
}

// The public type lives in connection-config.ts, whose declarations do not import pg.
export type { ConnectionConfig, ConnectionOptions } from './connection-config.js';

/** SQLSTATEs worth another try: the server is starting or full. */
const TRANSIENT_SQLSTATES = new Set(['57P03', '53300', '08006', '08001', '08004']);
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE']);

/** Whether a connection failure may go away by itself (never a bad password or unknown database). */
export function isTransientConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return /timeout|terminated unexpectedly/i.test(String((error as Error).message));
  return TRANSIENT_SQLSTATES.has(code) || TRANSIENT_ERRNOS.has(code);
}

export interface ConnectOptions {
  readonly applicationName: string;
  readonly retries: number;
  readonly signal?: AbortSignal;
  /** Idle time before the first TCP keepalive probe. */
  readonly keepAliveInitialDelayMillis: number;
  readonly connectionTimeoutMillis: number;
}

/** libpq's `connect_timeout` from the URI's query, else `PGCONNECT_TIMEOUT`: `pg` itself ignores it. */
function libpqConnectTimeoutMillis(connection: ConnectionOptions): number | undefined {
  let text: string | undefined;
  if (typeof connection === 'string') {
    try {
      text = new URL(connection).searchParams.get('connect_timeout') ?? undefined;
    } catch {
      text = undefined; // not a URI (a bare database name): only the environment can say
    }
  }
  text ??= process.env.PGCONNECT_TIMEOUT;
  if (text === undefined || text.trim() === '') return undefined;
  const millis = parseConnectTimeout(text);
  if (millis === undefined) {
    throw new BackupError('INVALID_OPTION', `connect_timeout must be a whole number of seconds, got ${JSON.stringify(text)}.`, { details: { option: 'connect_timeout' } });
  }
  return millis;
}

function clientConfig(connection: ConnectionOptions, options: ConnectOptions): pg.ClientConfig {
  // ConnectionConfig mirrors pg.ClientConfig field by field; only `types` is left opaque.
  const base = (typeof connection === 'string' ? { connectionString: connection } : { ...connection }) as pg.ClientConfig;
  return {
    ...base,
    application_name: options.applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: options.keepAliveInitialDelayMillis,
    connectionTimeoutMillis: base.connectionTimeoutMillis ?? libpqConnectTimeoutMillis(connection) ?? options.connectionTimeoutMillis,
  };
}

/** Where a connection goes, for messages: never includes a password. */
export function describeTarget(client: pg.Client): string {
  const c = client as unknown as { host?: string; port?: number; user?: string; database?: string };
  return `${c.user ?? '?'}@${c.host ?? '?'}:${c.port ?? '?'}/${c.database ?? '?'}`;
}

/**
 * Opens a dedicated connection (never pooled: the backup lives and dies with this session),
 * retrying only failures that can pass. PG* variables work as in `pg`; ~/.pgpass is read here
 * because `pg` is dropping its own support.
 */
export async function connect(connection: ConnectionOptions, options: ConnectOptions): Promise<pg.Client> {
  const config = clientConfig(connection, options);
  const { pg, pgpass, pRetry, AbortError } = await drivers();
  const attempt = async (): Promise<pg.Client> => {
    const client = new pg.Client(config);
    if (client.password == null) {
      const info = client as unknown as { host: string; port: number; database: string; user: string };
      (client as unknown as { password: () => Promise<string | undefined> }).password = () =>
        new Promise((resolve) => pgpass({ host: info.host, port: info.port, database: info.database, user: info.user }, resolve));
    }
    // Without a listener an idle connection's error would crash the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      const wrapped = new BackupError(
        'CONNECTION_FAILED',
        `Could not connect to PostgreSQL at ${describeTarget(client)}: ${(error as Error).message}`,
        { cause: error, details: { target: describeTarget(client), sqlState: (error as { code?: string }).code } },
      );
      // 14+ says why a standby refuses: with hot_standby off it never will, so this is a setting, not a wait.
      const detail = (error as { detail?: unknown }).detail;
      if ((error as { code?: unknown }).code === '57P03' && typeof detail === 'string' && /hot standby mode is disabled/i.test(detail)) {
        throw new AbortError(
          new BackupError('SERVER_SETTING', `${describeTarget(client)} is a standby with hot_standby = off, so it accepts no connections: set hot_standby = on and restart it, or back up the primary.`, {
            cause: error,
            details: { setting: 'hot_standby', target: describeTarget(client) },
          }),
        );
      }
      if (!isTransientConnectionError(error)) throw new AbortError(wrapped);
      throw wrapped;
    }
  };
  return pRetry(attempt, {
    retries: options.retries,
    minTimeout: 500,
    maxTimeout: 4000,
    factor: 2,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
