import { isAbsolute, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EncryptionOptions } from '../crypto/keyring.js';
import type { RewrapOptions, RewrapReport } from '../crypto/rewrap.js';
import { BackupError } from '../errors.js';
import type { LabelStore, SummarySink } from '../sinks/contract.js';
import { FilesystemSummaryStore } from './filesystem.js';

/** A parsed sink/store URL. */
export type StoreUrl =
  | {
      /** A local directory. */
      readonly kind: 'file';
      /** Absolute. */
      readonly directory: string;
    }
  | {
      /** An S3 (or S3-compatible) bucket. */
      readonly kind: 's3';
      /** The bucket name. */
      readonly bucket: string;
      /** Key prefix without leading or trailing slash; '' for none. */
      readonly prefix: string;
      /** `?endpoint=`: an S3-compatible server. */
      readonly endpoint?: string;
      /** `?region=`. */
      readonly region?: string;
      /** `?forcePathStyle=true`. */
      readonly forcePathStyle?: boolean;
      /** `?sse=AES256|aws:kms`. */
      readonly serverSideEncryption?: 'AES256' | 'aws:kms';
      /** `?sseKmsKeyId=`. */
      readonly sseKmsKeyId?: string;
    };

const S3_QUERY_KEYS = new Set(['endpoint', 'region', 'forcePathStyle', 'sse', 'sseKmsKeyId']);

function invalid(url: string, why: string): BackupError {
  return new BackupError('INVALID_URL', `Invalid store URL ${JSON.stringify(url)}: ${why}. Use file:///absolute/dir, an absolute path, or s3://bucket/prefix.`, {
    details: { url },
  });
}

/**
 * Parses a sink/store URL: `file:///abs/dir`, an absolute path, or
 * `s3://bucket/prefix?endpoint=...&region=...&forcePathStyle=true&sse=AES256`.
 * @throws BackupError `INVALID_URL`.
 */
export function parseStoreUrl(url: string): StoreUrl {
  if (typeof url !== 'string' || url.trim() === '') throw invalid(String(url), 'it is empty');
  if (url.includes('\0') || /[\r\n]/.test(url)) throw invalid(url, 'it contains control characters');
  if (url.startsWith('/')) return { kind: 'file', directory: normalize(url) };
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) throw invalid(url, 'a relative path is ambiguous');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(url, 'it is not a URL');
  }
  if (scheme === 'file') {
    // The WHATWG parser reads `file:sum` as /sum: a relative path must be refused before it.
    if (url[5] !== '/') throw invalid(url, 'the path must be absolute (file:///absolute/dir)');
    if (parsed.host !== '' && parsed.host !== 'localhost') throw invalid(url, 'a file URL cannot name a host');
    if (parsed.search !== '' || parsed.hash !== '') throw invalid(url, 'a file URL takes no query or fragment');
    const directory = fileURLToPath(parsed);
    if (!isAbsolute(directory)) throw invalid(url, 'the path must be absolute');
    return { kind: 'file', directory: normalize(directory) };
  }
  if (scheme === 's3') {
    const bucket = parsed.hostname;
    if (bucket === '') throw invalid(url, 'the bucket is missing');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw invalid(url, `"${bucket}" is not a valid bucket name`);
    if (parsed.hash !== '' || parsed.username !== '' || parsed.password !== '' || parsed.port !== '') {
      throw invalid(url, 'an s3 URL takes no credentials, port or fragment (use the AWS credential chain and ?endpoint=)');
    }
    const prefix = decodeURIComponent(parsed.pathname).split('/').filter(Boolean).join('/');
    if (prefix.split('/').some((part) => part === '..' || part === '.')) throw invalid(url, 'the prefix must not contain . or .. segments');
    const result: { -readonly [K in keyof Extract<StoreUrl, { kind: 's3' }>]?: Extract<StoreUrl, { kind: 's3' }>[K] } = { kind: 's3', bucket, prefix };
    for (const [key, value] of parsed.searchParams) {
      if (!S3_QUERY_KEYS.has(key)) throw invalid(url, `unknown query parameter "${key}" (known: ${[...S3_QUERY_KEYS].join(', ')})`);
      if (value === '') throw invalid(url, `query parameter "${key}" is empty`);
      if (key === 'endpoint') {
        if (!/^https?:\/\/[^/?#]+\/?$/.test(value)) throw invalid(url, 'endpoint must be http(s)://host[:port]');
        result.endpoint = value;
      } else if (key === 'region') {
        if (!/^[a-z0-9-]+$/.test(value)) throw invalid(url, `"${value}" is not a region`);
        result.region = value;
      } else if (key === 'forcePathStyle') {
        if (value !== 'true' && value !== 'false') throw invalid(url, 'forcePathStyle must be true or false');
        result.forcePathStyle = value === 'true';
      } else if (key === 'sse') {
        if (value !== 'AES256' && value !== 'aws:kms') throw invalid(url, 'sse must be AES256 or aws:kms');
        result.serverSideEncryption = value;
      } else {
        result.sseKmsKeyId = value;
      }
    }
    return result as StoreUrl;
  }
  throw invalid(url, `unknown scheme "${scheme}:"`);
}

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Client-side encryption of the summaries (`EncryptionOptions`). */
  readonly encryption?: EncryptionOptions;
}

/** A store `openStore` opens: a summary sink and label store whose keys `keys rewrap` can re-wrap. */
export type OpenedStore = SummarySink &
  LabelStore & {
    /** `keys rewrap`: every sealed object's data key wrapped under the keyring's newest key, payloads untouched. */
    rewrapKeys(options: RewrapOptions): Promise<RewrapReport>;
  };

/**
 * Opens the store a URL names. The S3 adapter (and the AWS SDK) is loaded only for `s3://` URLs.
 * @throws BackupError `INVALID_URL`, or `INVALID_OPTION` when `@aws-sdk/client-s3` is not installed.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<OpenedStore> {
  const parsed = parseStoreUrl(url);
  const encryption = options.encryption !== undefined ? { encryption: options.encryption } : {};
  if (parsed.kind === 'file') return new FilesystemSummaryStore({ directory: parsed.directory, ...encryption });
  let s3: typeof import('./s3.js');
  try {
    s3 = await import('./s3.js');
  } catch (error) {
    throw new BackupError('INVALID_OPTION', `S3 URLs need the optional dependency @aws-sdk/client-s3: npm install @aws-sdk/client-s3.`, { cause: error });
  }
  const { kind: _kind, ...s3Options } = parsed;
  return new s3.S3SummaryStore({ ...s3Options, ...encryption });
}
