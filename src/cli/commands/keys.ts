import { BackupError, loadKeyring, openStore, openWalArchive, type RewrapReport, writeNewKey } from '../../index.js';
import { COMMON_OPTIONS, lines, strings, text, type Command } from '../command-kit.js';
import { ENCRYPTION_HELP, ENCRYPTION_OPTIONS, encryptionSettings } from '../encryption-flags.js';

const ACTIONS = ['generate', 'list', 'rewrap'] as const;

export const keys: Command = {
  name: 'keys',
  summary: 'encryption keys: generate a key file, list a keyring, re-wrap stored objects under the newest key',
  usage:
    'pg-split-backup keys generate --output FILE [--append] | keys list [--encryption-key-file F]... | keys rewrap (--store URL | --wal-archive URL)... [--encryption-key-file F]... [--dry-run] [--json]',
  details: `generate  writes a new random 32-byte key (base64) to FILE, mode 0600, never over an existing
          file; with --append adds it to FILE as its newest key (rotation: from then on new objects
          use it, old ones stay readable with the older keys, nothing stored is rewritten). Prints
          the key's id, never the key.
list      the ids of the keyring (the last one seals new objects).
rewrap    gives every encrypted object in the stores and archives named a new header whose data
          key is wrapped with the newest key, after authenticating the whole object; payload bytes
          are not touched, plaintext objects are left as they are. Once it reports no failure, the
          older keys can be removed from the key file. Exit 2 when an object failed (it is named and
          left as it was).

  --output FILE      generate: the key file to write
  --append           generate: add the key to an existing key file
  --store URL        rewrap: a summary store (repeatable)
  --wal-archive URL  rewrap: a WAL archive (repeatable)
  --dry-run          rewrap: report what would be re-wrapped, write nothing
${ENCRYPTION_HELP}`,
  options: {
    ...COMMON_OPTIONS,
    ...ENCRYPTION_OPTIONS,
    output: { type: 'string' },
    append: { type: 'boolean' },
    store: { type: 'string', multiple: true },
    'wal-archive': { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
  },
  positionals: ['action'],
  async run(values) {
    const action = text(values, 'action');
    if (!(ACTIONS as readonly (string | undefined)[]).includes(action)) {
      throw new BackupError('INVALID_OPTION', `keys takes ${ACTIONS.join(', ')}, got ${JSON.stringify(action)}.`, { details: { option: 'action' } });
    }
    if (action === 'generate') {
      const output = text(values, 'output');
      if (output === undefined || output === '') throw new BackupError('INVALID_OPTION', 'keys generate needs --output FILE.', { details: { option: 'output' } });
      const keyId = await writeNewKey(output, { append: values.append === true });
      return { json: { ok: true, keyFile: output, keyId }, text: `${values.append === true ? 'added' : 'wrote'} key ${keyId} to ${output}` };
    }
    const settings = encryptionSettings(values);
    const keyring = await loadKeyring(settings.encryptionKeyFiles !== undefined ? { keyFiles: settings.encryptionKeyFiles } : {});
    if (keyring === undefined) throw new BackupError('INVALID_OPTION', `keys ${action} needs a key: --encryption-key-file or PGSB_ENCRYPTION_KEY_FILE.`, { details: { option: 'encryption-key-file' } });
    if (action === 'list') {
      return { json: { ok: true, keyIds: keyring.ids, newest: keyring.newestId }, text: keyring.ids.map((id) => `${id}${id === keyring.newestId ? '  (newest: seals new objects)' : ''}`).join('\n') };
    }
    const stores = strings(values, 'store');
    const archives = strings(values, 'wal-archive');
    if (stores.length + archives.length === 0) throw new BackupError('INVALID_OPTION', 'keys rewrap needs --store or --wal-archive.', { details: { option: 'store' } });
    const encryption = { keyring };
    const options = { keyring, dryRun: values['dry-run'] === true };
    const reports: RewrapReport[] = [];
    for (const url of stores) reports.push(await (await openStore(url, { encryption })).rewrapKeys(options));
    for (const url of archives) reports.push(await (await openWalArchive(url, { encryption })).rewrapKeys(options));
    const out = lines(
      ...reports.map(
        (r) =>
          `${r.store}: ${r.examined} objects, ${r.rewrapped.length} ${options.dryRun ? 'would be ' : ''}re-wrapped to key ${r.keyId}, ${r.plaintext.length} plaintext, ${r.failed.length} failed`,
      ),
      ...reports.flatMap((r) => r.failed.map((f) => `  FAILED ${f.object}: ${f.code}: ${f.message}`)),
    );
    const failed = reports.flatMap((r) => r.failed);
    if (failed.length > 0) {
      throw new BackupError(failed[0]!.code === 'ENCRYPTION_KEY_MISSING' ? 'ENCRYPTION_KEY_MISSING' : 'DECRYPTION_FAILED', `${out}\nThe objects that failed were left as they were; keep the old keys until they are dealt with.`, {
        details: { reports },
      });
    }
    return { json: { ok: true, dryRun: options.dryRun, reports }, text: out };
  },
};
