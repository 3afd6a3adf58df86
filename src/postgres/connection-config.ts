// The connection settings of the public API, described structurally: no `pg` types reach a user's
// compiler (connect.ts converts them to pg's config).
import type { Duplex } from 'node:stream';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';

/**
 * Where and how to connect: the settings of a `pg` client configuration, so an object written for
 * `new pg.Client(config)` works here as it is. What is left out comes from the PG* environment
 * variables and `~/.pgpass`, as with psql.
 *
 * @example
 * ```ts
 * const connection: ConnectionConfig = { host: '/run/postgresql', user: 'backup', database: 'postgres' };
 * ```
 */
export interface ConnectionConfig {
  /** A `postgresql://` URI; the other fields override what it says. */
  readonly connectionString?: string | undefined;
  /** Host name, IP address, or the directory of a Unix socket. @default `PGHOST`, else `localhost` */
  readonly host?: string | undefined;
  /** @default `PGPORT`, else 5432 */
  readonly port?: number | undefined;
  /** The role. @default `PGUSER`, else the OS user */
  readonly user?: string | undefined;
  /** The password, or a function giving it (called at each connection). @default `PGPASSWORD`, else `~/.pgpass` */
  readonly password?: string | (() => string | Promise<string>) | undefined;
  /** @default `PGDATABASE`, else the role's name */
  readonly database?: string | undefined;
  /** TLS: `true`, or Node's `tls.connect` options (`ca`, `rejectUnauthorized`, ...). @default off, or what `sslmode` in the URI says */
  readonly ssl?: boolean | TlsConnectionOptions | undefined;
  /** How TLS is negotiated (`direct` needs PostgreSQL 17+). @default 'postgres' */
  readonly sslnegotiation?: 'postgres' | 'direct' | undefined;
  /** SCRAM channel binding. @default false */
  readonly enableChannelBinding?: boolean | undefined;
  /** Milliseconds to wait for the connection to open. @default `connect_timeout` (seconds) in the URI or `PGCONNECT_TIMEOUT`, else 30000 */
  readonly connectionTimeoutMillis?: number | undefined;
  /** Command-line options sent at connection start, as libpq's `options` (e.g. `-c search_path=x`). */
  readonly options?: string | undefined;
  /** The client encoding. @default 'UTF8' */
  readonly client_encoding?: string | undefined;
  /** Ignored: the session names itself `pg-split-backup <id>` so that it can be found in `pg_stat_activity`. */
  readonly application_name?: string | undefined;
  /** Ignored, as `application_name`. */
  readonly fallback_application_name?: string | undefined;
  /** Ignored: the session always turns TCP keepalives on. */
  readonly keepAlive?: boolean | undefined;
  /** Ignored: the session sets it from its heartbeat interval. */
  readonly keepAliveInitialDelayMillis?: number | undefined;
  /** Passed to `pg`; the session turns the server-side timeout off for its own connection. */
  readonly statement_timeout?: false | number | undefined;
  /** Passed to `pg` (client-side timeout of each query, in milliseconds). */
  readonly query_timeout?: number | undefined;
  /** Passed to `pg`; the session turns it off for its own connection. */
  readonly lock_timeout?: number | undefined;
  /** Passed to `pg`; the session turns it off for its own connection. */
  readonly idle_in_transaction_session_timeout?: number | undefined;
  /** A function making the socket (e.g. through a tunnel), as `pg` takes it. */
  readonly stream?: (() => Duplex | undefined) | undefined;
  /** Custom type parsers, as `pg` takes them (`{ getTypeParser }`). Changing the parsing of `text`, `pg_lsn` or `bool` breaks the session. */
  readonly types?: unknown;
  /** `pg`'s query pipelining. */
  readonly pipeline?: boolean | undefined;
}

/** A `postgresql://` URI / libpq-style connection string, or a {@link ConnectionConfig}. */
export type ConnectionOptions = string | ConnectionConfig;
