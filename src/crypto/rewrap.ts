import { isBackupError } from '../errors.js';
import type { CallOptions } from '../sinks/contract.js';
import { mapLimit } from '../util/map-limit.js';
import { isSealed, rewrap } from './envelope.js';
import type { Keyring } from './keyring.js';

/** Options of a store's `rewrapKeys`. */
export interface RewrapOptions extends CallOptions {
  /** The keyring: its newest key wraps every data key; the older keys open the old headers. */
  readonly keyring: Keyring;
  /** Report what would be re-wrapped, write nothing. @default false */
  readonly dryRun?: boolean;
}

/** What a `rewrapKeys` did. */
export interface RewrapReport {
  /** The store or archive. */
  readonly store: string;
  /** The key every data key is now wrapped with. */
  readonly keyId: string;
  /** Objects looked at. */
  readonly examined: number;
  /** Objects whose header was re-wrapped (or, dry run, would be). */
  readonly rewrapped: string[];
  /** Objects stored in plaintext (rewrap never encrypts: their bytes stay as they are). */
  readonly plaintext: string[];
  /** Objects that could not be re-wrapped, with the code: left exactly as they were. */
  readonly failed: {
    /** The object's name. */
    readonly object: string;
    /** The error code (`DECRYPTION_FAILED`, `ENCRYPTION_KEY_MISSING`...). */
    readonly code: string;
    /** What happened. */
    readonly message: string;
  }[];
}

/** How {@link rewrapObjects} reaches one store's raw objects. */
export interface RawObjects {
  /** The store's name. */
  readonly name: string;
  /** Every object's name (what its envelope is bound to). */
  list(options: CallOptions): Promise<string[]>;
  /** Its stored bytes, `undefined` when gone meanwhile. */
  read(name: string, options: CallOptions): Promise<Buffer | undefined>;
  /** Replaces it atomically (whole old or whole new bytes, never a mix). */
  replace(name: string, body: Buffer, options: CallOptions): Promise<void>;
}

/**
 * Re-wraps the data key of every sealed object that is not under the newest key: a new header, the
 * payload bytes unchanged. Each object is authenticated whole before its header is replaced. One
 * object failing stops nothing else; it is reported and left as it was.
 */
export async function rewrapObjects(objects: RawObjects, options: RewrapOptions, concurrency = 8): Promise<RewrapReport> {
  const names = await objects.list(options);
  const rewrapped: string[] = [];
  const plaintext: string[] = [];
  const failed: RewrapReport['failed'][number][] = [];
  await mapLimit(
    names,
    concurrency,
    async (name) => {
      try {
        const stored = await objects.read(name, options);
        if (stored === undefined) return;
        const next = rewrap(stored, name, options.keyring);
        if (next === undefined) {
          if (!isSealed(stored)) plaintext.push(name);
          return;
        }
        if (options.dryRun !== true) await objects.replace(name, next, options);
        rewrapped.push(name);
      } catch (error) {
        if (!isBackupError(error) && (error as Error).name === 'AbortError') throw error;
        failed.push({ object: name, code: isBackupError(error) ? error.code : 'ARCHIVE_FAILED', message: (error as Error).message });
      }
    },
    options.signal,
  );
  return { store: objects.name, keyId: options.keyring.newestId, examined: names.length, rewrapped: rewrapped.sort(), plaintext: plaintext.sort(), failed };
}
