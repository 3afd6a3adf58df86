import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { BackupError } from '../errors.js';

/** How archive-push stores a WAL file: as it is, or compressed under `<name>.gz` / `<name>.zst`. */
export type WalCompression = 'none' | 'gzip' | 'zstd';

/** Every compression archive-push can write, in the order archive-get looks for them. */
export const WAL_COMPRESSIONS: readonly WalCompression[] = ['none', 'gzip', 'zstd'];

const SUFFIX: Readonly<Record<WalCompression, string>> = { none: '', gzip: '.gz', zstd: '.zst' };

// Level 3: WAL is mostly page images and compresses well at low levels; level 6 costs about
// twice the CPU per segment for a few percent, and archive-push runs once per segment.
const GZIP_LEVEL = 3;

type Codec = (input: Buffer) => Promise<Buffer>;
const gzip = promisify(zlib.gzip) as (input: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;
const gunzip = promisify(zlib.gunzip) as (input: Buffer) => Promise<Buffer>;

/** zstd is in node:zlib from Node 22.15 / 23.8 on; Node 20 does not have it. */
function zstd(): { compress: Codec; decompress: Codec } | undefined {
  const z = zlib as unknown as Record<string, unknown>;
  if (typeof z.zstdCompress !== 'function' || typeof z.zstdDecompress !== 'function') return undefined;
  return { compress: promisify(z.zstdCompress as never) as Codec, decompress: promisify(z.zstdDecompress as never) as Codec };
}

/** Whether this Node can write and read `compression`. */
export function isWalCompressionAvailable(compression: WalCompression): boolean {
  return compression !== 'zstd' || zstd() !== undefined;
}

function zstdMissing(): BackupError {
  return new BackupError('INVALID_OPTION', `zstd needs Node 22.15 or later (its node:zlib has zstd); this is Node ${process.versions.node}. Use gzip, or run a newer Node.`, {
    details: { option: 'compress', node: process.versions.node },
  });
}

/**
 * Checks a compression name (`--compress`): `none`, `gzip` or `zstd`.
 * @throws BackupError `INVALID_OPTION` for another name, or for zstd on a Node without it.
 */
export function assertWalCompression(value: string): WalCompression {
  if (!(WAL_COMPRESSIONS as readonly string[]).includes(value)) {
    throw new BackupError('INVALID_OPTION', `compress takes ${WAL_COMPRESSIONS.join(', ')}, got ${JSON.stringify(value)}.`, { details: { option: 'compress' } });
  }
  if (!isWalCompressionAvailable(value as WalCompression)) throw zstdMissing();
  return value as WalCompression;
}

/** The name archive-push stores `walFile` under with `compression`. */
export function storedWalName(walFile: string, compression: WalCompression): string {
  return walFile + SUFFIX[compression];
}

/** Compresses a WAL file's bytes for storing. */
export async function compressWal(body: Buffer, compression: WalCompression): Promise<Buffer> {
  if (compression === 'none') return body;
  if (compression === 'gzip') return gzip(body, { level: GZIP_LEVEL });
  const codec = zstd();
  if (!codec) throw zstdMissing();
  return codec.compress(body);
}

/**
 * The original bytes of a stored WAL file. gzip and zstd both check their own checksum, so a
 * damaged file fails here instead of reaching PostgreSQL.
 * @throws BackupError `ARCHIVE_FAILED` when the file does not decompress.
 */
export async function decompressWal(stored: Buffer, compression: WalCompression, name: string): Promise<Buffer> {
  if (compression === 'none') return stored;
  try {
    if (compression === 'gzip') return await gunzip(stored);
    const codec = zstd();
    if (!codec) {
      throw new BackupError('ARCHIVE_FAILED', `${name} is zstd-compressed, and this Node (${process.versions.node}) cannot read zstd: run archive-get with Node 22.15 or later.`, {
        details: { name },
      });
    }
    return await codec.decompress(stored);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError('ARCHIVE_FAILED', `${name} in the WAL archive does not decompress (${(error as Error).message}): it is damaged.`, { cause: error, details: { name } });
  }
}
