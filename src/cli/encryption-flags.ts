import type { EncryptionOptions, EncryptionSettings } from '../index.js';
import { strings, type Values } from './command-kit.js';

// The flags of every command that reads or writes the WAL archive or summaries.

export const ENCRYPTION_OPTIONS = {
  'encryption-key-file': { type: 'string', multiple: true },
  'require-encryption': { type: 'boolean' },
} as const;

export const ENCRYPTION_HELP = `  --encryption-key-file F  seal what is written with the newest key of F, open what any key
                           opened (repeatable, oldest first; each file: 32 raw bytes or base64
                           keys one per line, mode 0600; default: env PGSB_ENCRYPTION_KEY_FILE,
                           else PGSB_ENCRYPTION_KEY, base64 keys; see docs/security.md)
  --require-encryption     refuse plaintext objects (NOT_ENCRYPTED)`;

/** The key files and plaintext policy the flags give (paths only: for processes started later). */
export function encryptionSettings(values: Values): EncryptionSettings {
  const files = strings(values, 'encryption-key-file');
  return { ...(files.length > 0 ? { encryptionKeyFiles: files } : {}), ...(values['require-encryption'] === true ? { requireEncrypted: true } : {}) };
}

/** The flags' (or the environment's) keyring and policy, `{}` when there is none: spread into open options. */
export async function encryptionOption(values: Values): Promise<{ encryption?: EncryptionOptions }> {
  // Loaded on demand: archive-get on a queue hit never needs it.
  const { encryptionFrom } = await import('../crypto/keyring.js');
  const encryption = await encryptionFrom(encryptionSettings(values));
  return encryption !== undefined ? { encryption } : {};
}
