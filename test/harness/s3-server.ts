import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { freePort } from './cluster.js';

/** Credentials s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** A real S3-protocol server (s3rver) on 127.0.0.1, with one bucket, that can be stopped and started again. */
export class TestS3Server {
  #server: S3rver | undefined;

  private constructor(
    readonly port: number,
    readonly directory: string,
    readonly bucket: string,
  ) {}

  static async start(bucket = 'summaries'): Promise<TestS3Server> {
    const server = new TestS3Server(await freePort(), await mkdtemp(join(tmpdir(), 'pgsb-s3-')), bucket);
    await server.startAgain();
    return server;
  }

  /** `http://127.0.0.1:PORT` */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Options for S3SummaryStore against this server. */
  storeOptions(prefix = ''): { bucket: string; prefix: string; endpoint: string; region: string; forcePathStyle: true; credentials: typeof S3RVER_CREDENTIALS } {
    return { bucket: this.bucket, prefix, endpoint: this.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS };
  }

  /** Starts (again) on the same port and directory: what was stored is still there. */
  async startAgain(): Promise<void> {
    if (this.#server) return;
    const server = new S3rver({ address: '127.0.0.1', port: this.port, silent: true, directory: this.directory, configureBuckets: [{ name: this.bucket }] });
    await server.run();
    this.#server = server;
  }

  /** Stops the server (connections are cut, as when a store goes down). */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.httpServer?.closeAllConnections();
    await server.close();
  }

  /** Stops and removes everything. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.directory, { recursive: true, force: true });
  }
}
