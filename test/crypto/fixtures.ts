// What the encryption tests share: two keys and their keyrings, the header size, error matchers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isBackupError, Keyring } from '../../src/index.js';

export const key1 = randomBytes(32);
export const key2 = randomBytes(32);
export const ring1 = Keyring.fromKeys([key1]);
export const ring12 = Keyring.fromKeys([key1, key2]);
export const ring2 = Keyring.fromKeys([key2]);

/** Bytes of a sealed object's header (with a 16-hex key id): magic, version, chunk size, id length, id, nonce, wrapped key, tag. */
export const HEADER = 8 + 3 + 16 + 12 + 32 + 16;

export function throwsCode(fn: () => unknown, code: string, message?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isBackupError(error, code as never), `${message ?? ''} expected ${code}, got ${String((error as Error)?.stack ?? error)}`);
    return true;
  });
}

export async function rejectsCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isBackupError(error, code as never), `expected ${code}, got ${String((error as Error)?.stack ?? error)}`);
    return true;
  });
}
