// The `pg-split-backup/s3` entry point: the only module that loads the AWS SDK.
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  DeleteObjectsCommand,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandOutput,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import pRetry, { AbortError } from 'p-retry';
import type { WalArchiveFile } from '../sinks/wal-archive-contract.js';
import { isSealed, openObject, sealObject } from '../crypto/envelope.js';
import type { EncryptionOptions } from '../crypto/keyring.js';
import { rewrapObjects, type RewrapOptions, type RewrapReport } from '../crypto/rewrap.js';
import { BackupError, isBackupError } from '../errors.js';
import type { CallOptions, LabelStore, SinkReceipt, SummarySink } from '../sinks/contract.js';
import { sinkWriteFailed } from '../sinks/failure.js';
import { assertBackupId, isValidBackupId } from '../summary/backup-id.js';
import { decodeSummary, encodeSummary, SUMMARY_JSON, type SummaryFile } from '../summary/encoding.js';
import type { BackupSummary } from '../summary/summary.js';
import { throwIfAborted } from '../util/abort.js';

/** Retry timing for S3 calls that fail for a reason that can pass (5xx, throttling, network). */
export interface S3RetryOptions {
  /** @default 5 */
  readonly retries?: number;
  /** First delay, in milliseconds. @default 200 */
  readonly minDelayMs?: number;
  /** Longest delay, in milliseconds. @default 5000 */
  readonly maxDelayMs?: number;
  /** @deprecated The same as {@link S3RetryOptions.minDelayMs} (milliseconds), under its older name. */
  readonly minTimeout?: number;
  /** @deprecated The same as {@link S3RetryOptions.maxDelayMs} (milliseconds), under its older name. */
  readonly maxTimeout?: number;
}

/** What {@link S3ClientLike.send} gets besides the command. */
export interface S3SendOptions {
  /** Cancels the request. */
  readonly abortSignal?: AbortSignal;
}

/**
 * The part of an AWS SDK v3 `S3Client` the store uses: `send`, given `@aws-sdk/client-s3` command
 * objects (`PutObjectCommand`, `GetObjectCommand`, `HeadObjectCommand`, `ListObjectsV2Command`,
 * `DeleteObjectsCommand`). A real `S3Client` fits, whichever copy of the SDK it comes from, and so
 * does a wrapper around one.
 */
export interface S3ClientLike {
  /** Sends one command and resolves with its output; rejects with the SDK's error (`name`, `$metadata.httpStatusCode`). */
  send(command: object, options?: S3SendOptions): Promise<unknown>;
}

/** Static S3 credentials (the shape of the AWS SDK's `AwsCredentialIdentity`). */
export interface S3Credentials {
  /** The access key ID. */
  readonly accessKeyId: string;
  /** The secret access key. */
  readonly secretAccessKey: string;
  /** A session token, with temporary credentials. */
  readonly sessionToken?: string | undefined;
  /** When temporary credentials expire. */
  readonly expiration?: Date | undefined;
  /** The credential scope, when the SDK's provider gives one. */
  readonly credentialScope?: string | undefined;
  /** The AWS account ID, when the SDK's provider gives one. */
  readonly accountId?: string | undefined;
}

/** A function resolving credentials, such as the AWS SDK's `fromIni()` or `fromNodeProviderChain()`. */
export type S3CredentialsProvider = (properties?: Record<string, unknown>) => Promise<S3Credentials>;

/** Options of {@link S3SummaryStore}. */
export interface S3SummaryStoreOptions {
  /** The bucket name. */
  readonly bucket: string;
  /** Key prefix, e.g. `pg/summaries`; summaries go to `<prefix>/<id>/...`. @default '' */
  readonly prefix?: string;
  /**
   * A ready client, e.g. an `S3Client` of `@aws-sdk/client-s3`. Without one, a client is made from
   * the options below and the standard AWS credential chain.
   */
  readonly client?: S3ClientLike;
  /** @default the AWS SDK's region resolution (AWS_REGION...) */
  readonly region?: string;
  /** An S3-compatible endpoint, e.g. `http://127.0.0.1:9000`. */
  readonly endpoint?: string;
  /** Path-style addressing, usually needed with `endpoint`. @default false */
  readonly forcePathStyle?: boolean;
  /** Explicit credentials; by default the standard AWS credential chain is used. */
  readonly credentials?: S3Credentials | S3CredentialsProvider;
  /** Server-side encryption of every object written. */
  readonly serverSideEncryption?: 'AES256' | 'aws:kms';
  /** KMS key for `aws:kms`. */
  readonly sseKmsKeyId?: string;
  /** Retry timing. */
  readonly retry?: S3RetryOptions;
  /** Client-side encryption: seal every object written with the keyring's newest key, open sealed ones on read (`EncryptionOptions`). */
  readonly encryption?: EncryptionOptions;
}

interface SdkError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

const RETRYABLE_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'TimeoutError']);

function statusOf(error: unknown): number | undefined {
  return (error as SdkError)?.$metadata?.httpStatusCode;
}

function isMissing(error: unknown): boolean {
  const name = (error as SdkError)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(error) === 404 && name !== 'NoSuchBucket');
}

/** Whether an S3 failure may pass: throttling, 5xx, or no HTTP answer at all (refused, reset, timeout). */
function isRetryable(error: unknown): boolean {
  if (isBackupError(error)) return false;
  const status = statusOf(error);
  const name = (error as SdkError)?.name ?? '';
  if (RETRYABLE_NAMES.has(name)) return true;
  if (status === undefined) return name !== 'AbortError';
  return status === 429 || status >= 500;
}

function joinKey(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split('/'))
    .filter((p) => p !== '')
    .join('/');
}

/** One object of a listing. */
export interface S3ObjectEntry {
  /** The whole key. */
  readonly key: string;
  /** Bytes. */
  readonly size: number;
  /** LastModified. */
  readonly modifiedAt: Date;
}

/**
 * Summaries in an S3 bucket (or any S3-compatible store), under `<prefix>/<id>/backup_label`,
 * `tablespace_map` (when non-empty) and `summary.json`, which is written last with a conditional
 * create (`If-None-Match: *`) and read back, so that exactly one writer of an ID wins.
 *
 * @example
 * ```ts
 * import { S3SummaryStore } from 'pg-split-backup/s3';
 * const store = new S3SummaryStore({ bucket: 'backups', prefix: 'pg/summaries', serverSideEncryption: 'AES256' });
 * ```
 */
export class S3SummaryStore implements SummarySink, LabelStore {
  readonly name: string;
  /** Each request is retried here (`retry`), so the session calls `write` once: retries never multiply. */
  readonly retriesWrites = true;
  readonly #client: S3ClientLike;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #sse: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId'>;
  readonly #retry: { readonly retries: number; readonly minTimeout: number; readonly maxTimeout: number };
  readonly #encryption: EncryptionOptions | undefined;

  constructor(options: S3SummaryStoreOptions) {
    if (typeof options?.bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket)) {
      throw new BackupError('INVALID_OPTION', `S3SummaryStore needs a valid bucket name, got ${JSON.stringify(options?.bucket)}.`, {
        details: { option: 'bucket' },
      });
    }
    this.#bucket = options.bucket;
    this.#prefix = joinKey(options.prefix ?? '');
    this.name = `s3://${this.#bucket}/${this.#prefix}${this.#prefix ? '/' : ''}`;
    this.#client =
      options.client ??
      new S3Client({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.forcePathStyle ? { forcePathStyle: true } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        // Retries are ours (p-retry), so that the SDK's and ours do not multiply.
        maxAttempts: 1,
      });
    this.#sse = {
      ...(options.serverSideEncryption ? { ServerSideEncryption: options.serverSideEncryption } : {}),
      ...(options.sseKmsKeyId ? { SSEKMSKeyId: options.sseKmsKeyId } : {}),
    };
    this.#encryption = options.encryption;
    const retry = options.retry ?? {};
    this.#retry = { retries: retry.retries ?? 5, minTimeout: retry.minDelayMs ?? retry.minTimeout ?? 200, maxTimeout: retry.maxDelayMs ?? retry.maxTimeout ?? 5000 };
  }

  /** Writes once: the same summary again is a no-op, another one under the same ID is `ALREADY_EXISTS`. */
  async write(summary: BackupSummary, options: CallOptions = {}): Promise<SinkReceipt> {
    assertBackupId(summary.id);
    throwIfAborted(options.signal);
    const files = encodeSummary(summary);
    const location = `s3://${this.#bucket}/${this.#key(summary.id, '')}/`;
    try {
      if ((await this.#read(summary.id, SUMMARY_JSON, options)) !== undefined) return await this.#compare(summary.id, files, location, options);
      const meta = files[files.length - 1]!;
      for (const file of files.slice(0, -1)) await this.#put(summary.id, this.#seal(summary.id, file), options, false);
      const created = await this.#put(summary.id, this.#seal(summary.id, meta), options, true);
      // Stores that ignore If-None-Match: whoever's summary.json is there now has won.
      const winner = await this.#readOpen(summary.id, SUMMARY_JSON, options);
      if (winner === undefined || !winner.equals(meta.body)) return await this.#compare(summary.id, files, location, options);
      await this.#repair(summary.id, files, options);
      return { location, written: created };
    } catch (error) {
      if (isBackupError(error)) throw error;
      throw sinkWriteFailed(summary.id, location, error, describe(error));
    }
  }

  /** The summary of `id`, checksums verified. */
  async get(id: string, options: CallOptions = {}): Promise<BackupSummary> {
    assertBackupId(id);
    return decodeSummary(id, (name) => this.#readOpen(id, name, options));
  }

  /** Whether a complete summary for `id` exists. */
  async has(id: string, options: CallOptions = {}): Promise<boolean> {
    assertBackupId(id);
    try {
      await this.#send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(id, SUMMARY_JSON) }), options);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  /** IDs of complete summaries, sorted (one listing, paginated). */
  async list(options: CallOptions = {}): Promise<string[]> {
    const base = this.#prefix ? `${this.#prefix}/` : '';
    const ids = new Set<string>();
    for (const key of await this.listKeys(options)) {
      const rest = key.slice(base.length).split('/');
      if (rest.length === 2 && rest[1] === SUMMARY_JSON && isValidBackupId(rest[0])) ids.add(rest[0]!);
    }
    return [...ids].sort();
  }

  /**
   * Every key under the prefix (one paginated listing). Used by the WAL archive check. MaxKeys is
   * S3's own default, said out loud: some S3-protocol servers (s3rver) otherwise list everything
   * in one page and fail past ~10,000 objects.
   */
  async listKeys(options: CallOptions = {}): Promise<string[]> {
    const base = this.#prefix ? `${this.#prefix}/` : '';
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.#send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: base, ContinuationToken: token, MaxKeys: 1000 }), options);
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /**
   * Every object under the prefix with its size and modification time (the same single paginated
   * listing as {@link S3SummaryStore.listKeys}). Used by the WAL archive's `listFiles`.
   */
  async listObjects(options: CallOptions = {}): Promise<S3ObjectEntry[]> {
    const base = this.#prefix ? `${this.#prefix}/` : '';
    const objects: S3ObjectEntry[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.#send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: base, ContinuationToken: token, MaxKeys: 1000 }), options);
      for (const object of page.Contents ?? []) if (object.Key) objects.push({ key: object.Key, size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  /** Deletes whole keys (at most 1000 per request); keys already gone are not an error. */
  async deleteKeys(keys: readonly string[], options: CallOptions = {}): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      await this.#send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }), options);
    }
  }

  async delete(id: string, options: CallOptions = {}): Promise<void> {
    assertBackupId(id);
    // summary.json first: a summary without it is incomplete, never half-valid.
    await this.#send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: [{ Key: this.#key(id, SUMMARY_JSON) }], Quiet: true } }), options);
    const prefix = `${this.#key(id, '')}/`;
    const rest = (await this.listKeys(options)).filter((key) => key.startsWith(prefix)).map((Key) => ({ Key }));
    for (let i = 0; i < rest.length; i += 1000) {
      await this.#send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: rest.slice(i, i + 1000), Quiet: true } }), options);
    }
  }

  /**
   * The object `<prefix>/<key>`, or `undefined` when there is none. When its ETag is a plain MD5
   * (a single-part upload), the bytes are checked against it: nothing read back is trusted. A
   * sealed object (this library's encryption) is the exception: its AES-GCM tags authenticate every
   * byte, and it is only ever used once `openObject` has checked them. Used by the WAL archive.
   */
  async readObject(key: string, options: CallOptions = {}): Promise<Buffer | undefined> {
    const objectKey = joinKey(this.#prefix, key);
    const where = `s3://${this.#bucket}/${objectKey}`;
    try {
      const result: GetObjectCommandOutput = await this.#send(new GetObjectCommand({ Bucket: this.#bucket, Key: objectKey }), options);
      const etag = result.ETag?.replace(/"/g, '');
      const { body, md5 } = await readBody(result.Body, result.ContentLength, where);
      if (md5 !== undefined && etag !== undefined && /^[0-9a-f]{32}$/.test(etag) && md5 !== etag) {
        throw new BackupError('ARCHIVE_FAILED', `${where} does not match its ETag (MD5): the object or the transfer is damaged.`, {
          details: { key },
        });
      }
      return body;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /**
   * Creates `<prefix>/<key>` with a conditional create (`If-None-Match: *`) and a `Content-MD5` the
   * server checks, so a damaged upload is refused rather than stored. Resolves `false` when the
   * object exists already (the store refused the create). Used by the WAL archive.
   */
  async createObject(key: string, body: Buffer, options: CallOptions = {}): Promise<boolean> {
    try {
      await this.#putChecked(key, body, options, true);
      return true;
    } catch (error) {
      if (statusOf(error) === 412 || (error as SdkError).name === 'PreconditionFailed') return false;
      throw error;
    }
  }

  /** Replaces `<prefix>/<key>` (an unconditional put with Content-MD5): `keys rewrap` only. */
  async replaceObject(key: string, body: Buffer, options: CallOptions = {}): Promise<void> {
    await this.#putChecked(key, body, options, false);
  }

  /** A put of `<prefix>/<key>` with a Content-MD5 the server checks; `createOnly`: `If-None-Match: *`. */
  async #putChecked(key: string, body: Buffer, options: CallOptions, createOnly: boolean): Promise<void> {
    await this.#send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: joinKey(this.#prefix, key),
        Body: body,
        ContentMD5: createHash('md5').update(body).digest('base64'),
        ContentType: 'application/octet-stream',
        ...(createOnly ? { IfNoneMatch: '*' } : {}),
        ...this.#sse,
      }),
      options,
    );
  }

  #key(id: string, name: string): string {
    return joinKey(this.#prefix, id, name);
  }

  /** Resolves false when a create-only put found the object there already. */
  async #put(id: string, file: SummaryFile, options: CallOptions, createOnly: boolean): Promise<boolean> {
    try {
      await this.#send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(id, file.name),
          Body: file.body,
          ContentType: file.name === SUMMARY_JSON ? 'application/json' : file.name.includes('/') ? 'application/octet-stream' : 'text/plain; charset=utf-8',
          ...(createOnly ? { IfNoneMatch: '*' } : {}),
          ...this.#sse,
        }),
        options,
      );
      return true;
    } catch (error) {
      // Someone else created it first; the read-back decides.
      if (createOnly && (statusOf(error) === 412 || (error as SdkError).name === 'PreconditionFailed')) return false;
      throw error;
    }
  }

  async #read(id: string, name: string, options: CallOptions): Promise<Buffer | undefined> {
    try {
      const result: GetObjectCommandOutput = await this.#send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(id, name) }), options);
      return Buffer.from(await result.Body!.transformToByteArray());
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** The file as stored: sealed for `<id>/<name>` when there is a keyring. */
  #seal(id: string, file: SummaryFile): SummaryFile {
    return { ...file, body: sealObject(file.body, `${id}/${file.name}`, this.#encryption) };
  }

  /** The file's plaintext (opened and authenticated when sealed), `undefined` when missing. */
  async #readOpen(id: string, name: string, options: CallOptions): Promise<Buffer | undefined> {
    const stored = await this.#read(id, name, options);
    return stored === undefined ? undefined : openObject(stored, `${id}/${name}`, this.#encryption);
  }

  /** `check`: creates a probe object under the prefix (never a summary), reads it back and deletes it. */
  async probeWrite(options: CallOptions = {}): Promise<void> {
    const key = `.pgsb-probe-${randomBytes(6).toString('hex')}`;
    const body = Buffer.from(`pg-split-backup check ${new Date().toISOString()}\n`);
    try {
      if (!(await this.createObject(key, body, options))) throw new Error(`the probe object ${key} existed already`);
      if (!(await this.readObject(key, options))?.equals(body)) throw new Error(`the probe object ${key} did not read back as written`);
    } finally {
      await this.deleteKeys([joinKey(this.#prefix, key)], options).catch(() => undefined);
    }
  }

  /** `keys rewrap`: every sealed object's data key wrapped under the keyring's newest key, payloads untouched. */
  async rewrapKeys(options: RewrapOptions): Promise<RewrapReport> {
    const base = this.#prefix ? `${this.#prefix}/` : '';
    const ids = new Set(await this.list(options));
    return rewrapObjects(
      {
        name: this.name,
        list: async (o) => (await this.listKeys(o)).map((key) => key.slice(base.length)).filter((name) => ids.has(name.split('/')[0]!) && name.includes('/')),
        read: (name, o) => this.readObject(name, o),
        replace: (name, body, o) => this.replaceObject(name, body, o),
      },
      options,
    );
  }

  async #compare(id: string, files: SummaryFile[], location: string, options: CallOptions): Promise<SinkReceipt> {
    // Plaintext compared: each sealing of the same summary gives other bytes.
    const existing = await this.#readOpen(id, SUMMARY_JSON, options);
    if (existing !== undefined && existing.equals(files[files.length - 1]!.body)) {
      await this.#repair(id, files, options);
      return { location, written: false };
    }
    throw new BackupError('ALREADY_EXISTS', `A different summary for backup ${id} already exists at ${location}; it was left as it is.`, {
      details: { id, location },
    });
  }

  /** The winner makes sure its data files are the ones stored (a racing loser may have overwritten them). */
  async #repair(id: string, files: SummaryFile[], options: CallOptions): Promise<void> {
    for (let round = 0; round < 3; round++) {
      let clean = true;
      for (const file of files.slice(0, -1)) {
        const stored = await this.#readOpen(id, file.name, options).catch((error: unknown) => {
          if (isBackupError(error, 'DECRYPTION_FAILED') || isBackupError(error, 'ENCRYPTION_KEY_MISSING') || isBackupError(error, 'NOT_ENCRYPTED')) return undefined; // a racing loser's: ours replaces it
          throw error;
        });
        if (stored === undefined || !stored.equals(file.body)) {
          clean = false;
          await this.#put(id, this.#seal(id, file), options, false);
        }
      }
      if (clean) return;
    }
  }

  // Every call goes through here: bounded retries for what can pass, none for the rest.
  async #send<T>(command: object, options: CallOptions): Promise<T> {
    const send = this.#client.send.bind(this.#client) as (command: object, options: { abortSignal?: AbortSignal }) => Promise<T>;
    const { signal } = options;
    return pRetry(
      async () => {
        try {
          return await send(command, signal ? { abortSignal: signal } : {});
        } catch (error) {
          if (!isRetryable(error)) throw new AbortError(error as Error);
          throw error;
        }
      },
      { ...this.#retry, factor: 2, ...(signal ? { signal } : {}) },
    );
  }
}

/**
 * A GetObject body read whole, with its MD5 (a single-part object's ETag), or none for a sealed
 * object: its own tags authenticate it when it is opened, and MD5 would add ~19 ms of CPU per 16 MiB
 * (about what the decryption costs) for no further check. A Node stream is hashed chunk by chunk
 * as it arrives, into a buffer sized from Content-Length: the hash overlaps the transfer instead of
 * following it, and the body is copied once. Anything else (a wrapped client's web stream or Blob)
 * goes through the SDK's `transformToByteArray`.
 */
async function readBody(body: unknown, contentLength: number | undefined, where: string): Promise<{ body: Buffer; md5: string | undefined }> {
  if (body === undefined || body === null) return { body: Buffer.alloc(0), md5: createHash('md5').digest('hex') };
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') {
    const bytes = await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view: no second copy
    return { body: whole, md5: isSealed(whole) ? undefined : createHash('md5').update(whole).digest('hex') };
  }
  // Decided on the first chunk (16 KiB over TLS); one too short to tell is hashed.
  let hash: ReturnType<typeof createHash> | undefined;
  let sealed = false;
  const sized = contentLength !== undefined && Number.isSafeInteger(contentLength) && contentLength >= 0;
  const into = sized ? Buffer.allocUnsafe(contentLength) : undefined;
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const piece of body as AsyncIterable<Uint8Array | string>) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    if (hash === undefined && !sealed) {
      sealed = isSealed(chunk); // false for a chunk shorter than the magic
      if (!sealed) hash = createHash('md5');
    }
    hash?.update(chunk);
    if (into === undefined) parts.push(chunk);
    else if (length + chunk.byteLength <= into.length) into.set(chunk, length);
    length += chunk.byteLength;
  }
  // Fewer or more bytes than announced: without an MD5 ETag (multipart, SSE-KMS) nothing else would notice.
  if (into !== undefined && length !== into.length) {
    throw new BackupError('ARCHIVE_FAILED', `${where} came with ${length} bytes where its Content-Length said ${into.length}: the transfer is damaged.`, { details: { length, contentLength } });
  }
  return { body: into ?? Buffer.concat(parts, length), md5: sealed ? undefined : (hash ?? createHash('md5')).digest('hex') };
}

function describe(error: unknown): string {
  const e = error as SdkError & { message?: string };
  const status = statusOf(error);
  return `${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(error)}`;
}

/**
 * A WAL archive in S3 (or an S3-compatible store) under `<prefix>/`, for `verifyWal`. Lists the
 * prefix once, page by page.
 */
export class S3WalArchive {
  /** `s3://bucket/prefix/`. */
  readonly name: string;
  readonly #store: S3SummaryStore;
  readonly #prefix: string;

  constructor(options: S3SummaryStoreOptions) {
    this.#store = new S3SummaryStore(options);
    this.#prefix = joinKey(options.prefix ?? '');
    this.name = this.#store.name;
  }

  /** The file names directly under the prefix. */
  async listFileNames(options: CallOptions = {}): Promise<string[]> {
    return this.#store.listKeys(options).then((keys) =>
      keys.map((key) => key.slice(this.#prefix ? this.#prefix.length + 1 : 0)).filter((name) => name !== '' && !name.includes('/')),
    );
  }

  /** archive-get: the object `<prefix>/<name>` (checked against its MD5 ETag), or `undefined`. */
  async readFile(name: string, options: CallOptions = {}): Promise<Buffer | undefined> {
    if (typeof name !== 'string' || name === '' || name.includes('/')) throw new BackupError('INVALID_OPTION', `Not a file name in a WAL archive: ${JSON.stringify(name)}.`);
    return this.#store.readObject(name, options);
  }

  /** archive-push: a conditional create with Content-MD5; `false` when the object exists already. */
  async createFile(name: string, body: Buffer, options: CallOptions = {}): Promise<boolean> {
    return this.#store.createObject(name, body, options);
  }

  /** `keys rewrap`: replaces the object `<prefix>/<name>` (an S3 put is atomic). */
  async replaceFile(name: string, body: Buffer, options: CallOptions = {}): Promise<void> {
    if (typeof name !== 'string' || name === '' || name.includes('/')) throw new BackupError('INVALID_OPTION', `Not a file name in a WAL archive: ${JSON.stringify(name)}.`);
    await this.#store.replaceObject(name, body, options);
  }

  /** The files directly under the prefix with size and LastModified (one paginated listing). */
  async listFiles(options: CallOptions = {}): Promise<WalArchiveFile[]> {
    const skip = this.#prefix ? this.#prefix.length + 1 : 0;
    return (await this.#store.listObjects(options))
      .map((o) => ({ name: o.key.slice(skip), size: o.size, modifiedAt: o.modifiedAt }))
      .filter((f) => f.name !== '' && !f.name.includes('/'));
  }

  /** Deletes one file directly under the prefix. */
  async deleteFile(name: string, options: CallOptions = {}): Promise<void> {
    if (typeof name !== 'string' || name === '' || name.includes('/') || name === '.' || name === '..') {
      throw new BackupError('INVALID_OPTION', `Not a file name in a WAL archive: ${JSON.stringify(name)}.`);
    }
    await this.#store.deleteKeys([joinKey(this.#prefix, name)], options);
  }

  /** Deletes many files with one request per 1000 (what `expire` uses when it is there). */
  async deleteFiles(names: readonly string[], options: CallOptions = {}): Promise<void> {
    await this.#store.deleteKeys(names.map((name) => joinKey(this.#prefix, name)), options);
  }
}
