import { createHash } from 'node:crypto';
import { BackupError } from '../errors.js';
import { assertBackupId } from './backup-id.js';
import { ATTACHMENT_NAME, SUMMARY_FORMAT_VERSION, type BackupSummary, type SummaryAttachment } from './summary.js';

/** One file of a stored summary, relative to the summary's own directory or key prefix. */
export interface SummaryFile {
  /** `backup_label`, `tablespace_map`, an attachment (`pg_wal/...`, `global/pg_control`) or `summary.json`. */
  readonly name: string;
  /** The file's bytes. */
  readonly body: Buffer;
}

/** The name of the metadata file, written last: its presence means the summary is complete. */
export const SUMMARY_JSON = 'summary.json';
export const BACKUP_LABEL = 'backup_label';
export const TABLESPACE_MAP = 'tablespace_map';

interface FileEntry {
  readonly sha256: string;
  readonly size: number;
}

interface SummaryJson extends Omit<BackupSummary, 'labelFile' | 'tablespaceMap' | 'attachments'> {
  readonly format: number;
  readonly files: Record<string, FileEntry>;
}

function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * The files that make up a stored summary, `summary.json` last. Deterministic: the same summary
 * always gives the same bytes, which is how stores tell a harmless rewrite from a conflict.
 */
export function encodeSummary(summary: BackupSummary): SummaryFile[] {
  assertBackupId(summary.id);
  const label = /^LABEL: (.*)$/m.exec(summary.labelFile)?.[1];
  if (label !== summary.id) {
    throw new BackupError('INVALID_OPTION', `The summary's backup_label names backup ${JSON.stringify(label ?? '(none)')}, not ${summary.id}; refusing to store it under that ID.`, {
      details: { id: summary.id },
    });
  }
  const files: SummaryFile[] = [{ name: BACKUP_LABEL, body: Buffer.from(summary.labelFile, 'utf8') }];
  if (summary.tablespaceMap !== '') files.push({ name: TABLESPACE_MAP, body: Buffer.from(summary.tablespaceMap, 'utf8') });
  const attachments = [...(summary.attachments ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const attachment of attachments) {
    if (!ATTACHMENT_NAME.test(attachment.name) || files.some((f) => f.name === attachment.name)) {
      throw new BackupError('INVALID_OPTION', `A summary cannot carry an attachment named ${JSON.stringify(attachment.name)}.`, { details: { id: summary.id } });
    }
    files.push({ name: attachment.name, body: attachment.body });
  }
  const { labelFile: _label, tablespaceMap: _map, attachments: _attachments, ...meta } = summary;
  const json: SummaryJson = {
    format: SUMMARY_FORMAT_VERSION,
    ...meta,
    files: Object.fromEntries(files.map((f) => [f.name, { sha256: sha256(f.body), size: f.body.length }])),
  };
  files.push({ name: SUMMARY_JSON, body: Buffer.from(`${JSON.stringify(json, null, 2)}\n`, 'utf8') });
  return files;
}

function corrupt(id: string, why: string, cause?: unknown): BackupError {
  return new BackupError('CORRUPT_SUMMARY', `The stored summary of backup ${id} is corrupt: ${why}. Do not restore from it.`, {
    cause,
    details: { id },
  });
}

/**
 * Rebuilds a summary from its stored files, checking every checksum and that the label names `id`.
 * @param read returns a file's bytes, or `undefined` when it does not exist.
 * @throws BackupError `CORRUPT_SUMMARY` on any mismatch.
 */
export async function decodeSummary(id: string, read: (name: string) => Promise<Buffer | undefined>): Promise<BackupSummary> {
  const raw = await read(SUMMARY_JSON);
  if (raw === undefined) throw new BackupError('NOT_FOUND', `No summary for backup ${id}.`, { details: { id } });
  let json: SummaryJson;
  try {
    json = JSON.parse(raw.toString('utf8')) as SummaryJson;
  } catch (cause) {
    throw corrupt(id, `${SUMMARY_JSON} is not valid JSON`, cause);
  }
  if (typeof json !== 'object' || json === null || typeof json.files !== 'object' || json.files === null) {
    throw corrupt(id, `${SUMMARY_JSON} has no file list`);
  }
  if (json.format !== SUMMARY_FORMAT_VERSION) throw corrupt(id, `unknown format ${String(json.format)}`);
  if (json.id !== id) throw corrupt(id, `${SUMMARY_JSON} names backup ${String(json.id)}`);
  const bodies = new Map<string, string>();
  const attachments: SummaryAttachment[] = [];
  for (const [name, entry] of Object.entries(json.files)) {
    const known = name === BACKUP_LABEL || name === TABLESPACE_MAP;
    if (!known && !ATTACHMENT_NAME.test(name)) throw corrupt(id, `it lists an unexpected file ${JSON.stringify(name)}`);
    const body = await read(name);
    if (body === undefined) throw corrupt(id, `${name} is missing`);
    if (body.length !== entry.size || sha256(body) !== entry.sha256) throw corrupt(id, `${name} does not match its checksum`);
    if (known) bodies.set(name, body.toString('utf8'));
    else attachments.push({ name, body });
  }
  const labelFile = bodies.get(BACKUP_LABEL);
  if (labelFile === undefined) throw corrupt(id, `${BACKUP_LABEL} is not listed`);
  const labelLine = /^LABEL: (.*)$/m.exec(labelFile);
  if (labelLine?.[1] !== id) throw corrupt(id, `its backup_label says LABEL: ${labelLine?.[1] ?? '(none)'}`);
  const { format: _format, files: _files, ...meta } = json;
  return { ...meta, labelFile, tablespaceMap: bodies.get(TABLESPACE_MAP) ?? '', ...(attachments.length ? { attachments } : {}) };
}
