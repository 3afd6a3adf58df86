// Compile-time only (checked by `tsc -p tsconfig.json`): the structural types of the public API
// still take the vendor objects users pass today. Nothing here runs.
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { BackupSession, drill, MemorySummaryStore, type ConnectionOptions, type DrillClient } from '../../src/index.js';
import { S3SummaryStore, type S3ClientLike } from '../../src/stores/s3.js';

declare const pgConfig: pg.ClientConfig;
declare const pgClient: pg.Client;
/** Whatever the SDK takes as credentials: static ones or a provider such as `fromIni()`. */
declare const sdkCredentials: NonNullable<S3ClientConfig['credentials']>;

/** A `pg.ClientConfig` (typed as one, or written out with every field `pg` has) is a connection. */
export const fromPgConfig: ConnectionOptions = pgConfig;
export const session = new BackupSession({
  id: 'x',
  sinks: [],
  connection: { host: '/tmp', port: 5432, user: 'u', password: () => Promise.resolve('p'), database: 'd', ssl: { rejectUnauthorized: false }, application_name: 'a', connectionTimeoutMillis: 1, keepAlive: true, statement_timeout: false, query_timeout: 1, options: '-c x=y', types: { getTypeParser: () => (v: string) => v } } satisfies pg.ClientConfig,
});

/** A `pg.Client` is a DrillClient, and a check written for `pg.Client` still fits. */
export const asDrillClient: DrillClient = pgClient;
export const drilled = drill({
  id: 'x',
  store: new MemorySummaryStore(),
  dataCopy: '/tmp/x',
  binDir: '/tmp/bin',
  check: async (client: pg.Client) => {
    await client.query({ text: 'SELECT 1', rowMode: 'array' });
  },
});

/** A real S3Client, and the SDK's credential providers, still fit. */
export const asS3Client: S3ClientLike = new S3Client({});
export const s3 = new S3SummaryStore({ bucket: 'b', client: new S3Client({ maxAttempts: 1 }) });
export const s3WithProvider = new S3SummaryStore({ bucket: 'b', credentials: sdkCredentials });
export const s3WithStatic = new S3SummaryStore({ bucket: 'b', credentials: { accessKeyId: 'a', secretAccessKey: 's', sessionToken: 't' } });
