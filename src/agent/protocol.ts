// The holder's two channels, typed: the control socket (JSON lines over `<id>.sock`: one request
// line, progress lines if asked, one answer line) and the IPC channel `pre` hands the holder its
// configuration over. The wire shape is the one holders have always spoken (version 1), so a
// client of this version still talks to a holder started before an upgrade; the typed unions are
// what both ends handle, and only this module knows the wire.
import type { EncryptionSettings } from '../crypto/keyring.js';
import { BackupError, type BackupErrorJson } from '../errors.js';
import type { SinkReceipt } from '../sinks/contract.js';
import type { SummaryOverview } from '../summary/summary.js';
import type { HolderConnection } from './connection.js';
import type { BackupRecord } from './state/record.js';

/** Version of the control protocol and of the IPC configuration: written here only. */
export const PROTOCOL_VERSION = 1;

/** Longest request line a holder reads. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** What a holder is waiting for, sent while a long step runs. */
export interface ProgressUpdate {
  /** `checkpoint`: the start's checkpoint; `archive`: the last WAL file's archiving; `sink-retry`: a failed sink write, retried; `replay`: a drill's recovery. */
  readonly phase: 'checkpoint' | 'archive' | 'sink-retry' | 'replay';
  /** One line for a human. */
  readonly message: string;
  /** How long this wait has lasted. */
  readonly elapsedMs?: number;
}

/** What `pre` reports once the server has started the backup. */
export interface HeldBackup {
  /** The backup ID. */
  readonly id: string;
  /** The holder's pid. */
  readonly pid: number;
  /** Where the backup starts (the start checkpoint's redo LSN). */
  readonly startLsn: string;
  /** The WAL file of `startLsn`: the first one a restore needs. */
  readonly startWalFile: string;
  /** The server's timeline at the start. */
  readonly timeline: number;
  /** The server's `server_version_num`. */
  readonly serverVersion: number;
  /** ISO 8601 time the server started the backup. */
  readonly startedAt: string;
  /** Longest hold before the holder aborts the backup, in ms (0: no limit). */
  readonly maxHoldMs: number;
  /** The runtime directory the holder's socket, lock, log and record are in. */
  readonly runtimeDir: string;
  /** The holder's log file. */
  readonly log: string;
}

/** A running backup, as its holder (or, when it does not answer, its record) reports it. */
export interface HolderStatus extends HeldBackup {
  /** `stopping` once a `post` has asked for the stop. */
  readonly state: 'running' | 'stopping';
  /** How long the backup has been held, in milliseconds. */
  readonly heldForMs: number;
  /** The sink URLs given to `pre`. */
  readonly sinks: readonly string[];
}

/** A request to a holder. `stop` ends the backup with its summary; `abort` without one. */
export type HolderRequest =
  /** How the backup stands. */
  | { readonly op: 'status' }
  /** Stop the backup; with `progress`, progress lines come before the answer. */
  | { readonly op: 'stop'; readonly progress?: boolean }
  /** Give the backup up without a summary. */
  | { readonly op: 'abort'; readonly reason?: string };

/** A holder's answer: one member per outcome of a request. */
export type HolderResponse =
  /** To `status`: the backup is held. */
  | { readonly kind: 'status'; readonly backup: HolderStatus }
  /** To `stop`: stopped now; every sink holds the summary. */
  | { readonly kind: 'stopped'; readonly id: string; readonly summary: SummaryOverview; readonly receipts: readonly SinkReceipt[] }
  /** To any request after the backup ended with its summary: the record says how. */
  | { readonly kind: 'ended'; readonly record: BackupRecord }
  /** To `abort`: the backup is given up. */
  | { readonly kind: 'aborted'; readonly id: string; readonly reason: string }
  /** The request failed, or the backup ended badly. */
  | { readonly kind: 'failed'; readonly error: BackupErrorJson };

/** A line a client reads: progress, or the one answer. */
export type HolderLine = HolderResponse | { readonly kind: 'progress'; readonly progress: ProgressUpdate };

/** What `pre` hands the holder over its IPC channel (never argv or env: it may hold a password). */
export interface HolderConfig extends EncryptionSettings {
  /** The backup ID. */
  readonly id: string;
  /** Absolute, already checked by `pre`. */
  readonly runtimeDir: string;
  /** Sink URLs, already parsed once by `pre`. */
  readonly sinks: readonly string[];
  /** What to connect with (`--dbname`). */
  readonly connection: HolderConnection;
  /** The caller's PGPASSWORD, moved out of the holder's environment. */
  readonly password?: string;
  /** The caller's PGSB_ENCRYPTION_KEY, moved out of the holder's environment. */
  readonly encryptionKeys?: string;
  /** Request an immediate checkpoint. */
  readonly fast: boolean;
  /** 0: no limit. */
  readonly maxHoldMs: number;
  /** Whether the stop waits for the last WAL file to be archived. */
  readonly waitForArchive: boolean;
  /**
   * The file pre pointed the holder's stdout/stderr at; renamed to `<id>.log` once the backup has
   * started (a refused duplicate never touches the running holder's log).
   */
  readonly startLog?: string;
  /** Ship the backup's WAL in its summary (`pre --include-wal`). */
  readonly includeWal?: boolean;
  /** @default the library default (`$XDG_STATE_HOME/pg-split-backup/spool`) */
  readonly spoolDirectory?: string;
  /** @default the library default */
  readonly archiveTimeoutMs?: number;
  /** @default the library default */
  readonly heartbeatIntervalMs?: number;
}

/** Messages the holder sends `pre` over IPC. */
export type HolderMessage =
  | { readonly type: 'started'; readonly backup: HeldBackup }
  | { readonly type: 'failed'; readonly error: BackupErrorJson }
  | { readonly type: 'progress'; readonly progress: ProgressUpdate };

/** The message `pre` sends the holder first, over IPC. */
export function configMessage(config: HolderConfig): { readonly type: 'config'; readonly v: number; readonly config: HolderConfig } {
  return { type: 'config', v: PROTOCOL_VERSION, config };
}

/**
 * The configuration in the holder's first IPC message, or undefined when it is not one this
 * version understands. (Older `pre`s put the version inside the config: both are accepted.)
 */
export function decodeConfigMessage(message: unknown): HolderConfig | undefined {
  if (!isObject(message) || message.type !== 'config' || !isObject(message.config)) return undefined;
  const version = message.v ?? message.config.v;
  if (version !== PROTOCOL_VERSION) return undefined;
  return isHolderConfig(message.config) ? message.config : undefined;
}

/** One request line. */
export function encodeRequest(request: HolderRequest): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, ...request })}\n`;
}

/**
 * Reads a request line (without its newline).
 * @throws BackupError `INVALID_OPTION`: not JSON, another protocol version, an unknown request.
 */
export function decodeRequest(line: string): HolderRequest {
  let wire: unknown;
  try {
    wire = JSON.parse(line);
  } catch {
    throw new BackupError('INVALID_OPTION', 'The request is not JSON.');
  }
  const version = isObject(wire) ? wire.v : undefined;
  if (!isObject(wire) || version !== PROTOCOL_VERSION) {
    throw new BackupError('INVALID_OPTION', `Unsupported protocol version ${String(version)} (this holder speaks ${PROTOCOL_VERSION}).`);
  }
  switch (wire.op) {
    case 'status':
      return { op: 'status' };
    case 'stop':
      return wire.progress === true ? { op: 'stop', progress: true } : { op: 'stop' };
    case 'abort':
      return typeof wire.reason === 'string' ? { op: 'abort', reason: wire.reason } : { op: 'abort' };
    default:
      throw new BackupError('INVALID_OPTION', `Unknown request ${JSON.stringify(wire.op)}.`);
  }
}

/** One answer line. */
export function encodeResponse(response: HolderResponse): string {
  const v = PROTOCOL_VERSION;
  let wire: Record<string, unknown>;
  switch (response.kind) {
    case 'status':
      wire = { v, ok: true, backup: response.backup };
      break;
    case 'stopped':
      wire = { v, ok: true, id: response.id, state: 'stopped', summary: response.summary, receipts: response.receipts };
      break;
    case 'ended':
      wire = { v, ok: true, id: response.record.id, state: response.record.state, record: response.record };
      break;
    case 'aborted':
      wire = { v, ok: true, id: response.id, state: 'aborted', reason: response.reason };
      break;
    case 'failed':
      wire = { v, ok: false, error: response.error };
      break;
  }
  return `${JSON.stringify(wire)}\n`;
}

/** One progress line. */
export function encodeProgress(progress: ProgressUpdate): string {
  return `${JSON.stringify({ v: PROTOCOL_VERSION, progress })}\n`;
}

/**
 * Reads a line from a holder (without its newline).
 * @throws Error saying what it does not understand (the client reports `HOLDER_FAILED`).
 */
export function decodeLine(line: string): HolderLine {
  const wire: unknown = JSON.parse(line);
  if (!isObject(wire) || wire.v !== PROTOCOL_VERSION) throw new Error(`protocol version ${String(isObject(wire) ? wire.v : undefined)}`);
  if (!('ok' in wire)) {
    if (isProgressUpdate(wire.progress)) return { kind: 'progress', progress: wire.progress };
    throw new Error('a line that is neither progress nor an answer');
  }
  if (wire.ok === false) {
    if (isErrorJson(wire.error)) return { kind: 'failed', error: wire.error };
    throw new Error('an error answer without an error');
  }
  if (wire.ok !== true) throw new Error(`ok: ${JSON.stringify(wire.ok)}`);
  if (isHolderStatus(wire.backup)) return { kind: 'status', backup: wire.backup };
  if (isBackupRecord(wire.record)) return { kind: 'ended', record: wire.record };
  if (typeof wire.id === 'string' && wire.state === 'aborted' && typeof wire.reason === 'string') return { kind: 'aborted', id: wire.id, reason: wire.reason };
  if (typeof wire.id === 'string' && wire.state === 'stopped' && isSummaryOverview(wire.summary) && isReceipts(wire.receipts)) {
    return { kind: 'stopped', id: wire.id, summary: wire.summary, receipts: wire.receipts };
  }
  throw new Error('an answer of no known kind');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Shapes: what a line must hold before it is taken as a typed message. Every field of each type
// is listed (Schema makes a missing key a compile error), so decoding checks instead of casting.
type Check = 'string' | 'number' | 'boolean' | 'object' | 'strings' | 'array' | 'literal-1';
/** Each key of T with its check; `?` for an optional one. */
type Schema<T> = { readonly [K in keyof Required<T>]: Check | `${Check}?` };

function passes(value: unknown, check: string): boolean {
  switch (check) {
    case 'string':
    case 'number':
    case 'boolean':
      return typeof value === check;
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'strings':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
    case 'array':
      return Array.isArray(value);
    case 'literal-1':
      return value === 1;
    default:
      return false;
  }
}

function conforms<T>(value: unknown, schema: Schema<T>): value is T {
  if (!isObject(value)) return false;
  return Object.entries<string>(schema).every(([key, spec]) => {
    const optional = spec.endsWith('?');
    const field = value[key];
    return (optional && field === undefined) || passes(field, optional ? spec.slice(0, -1) : spec);
  });
}

const ERROR: Schema<BackupErrorJson> = { code: 'string', message: 'string', details: 'object' };
const PROGRESS: Schema<ProgressUpdate> = { phase: 'string', message: 'string', elapsedMs: 'number?' };
/** What a status and a record both say of a held backup. */
const HELD = {
  id: 'string',
  state: 'string',
  pid: 'number',
  startLsn: 'string',
  startWalFile: 'string',
  timeline: 'number',
  serverVersion: 'number',
  startedAt: 'string',
  maxHoldMs: 'number',
  sinks: 'strings',
} as const satisfies Partial<Schema<HolderStatus>> & Partial<Schema<BackupRecord>>;
const STATUS: Schema<HolderStatus> = {
  ...HELD,
  runtimeDir: 'string',
  log: 'string',
  heldForMs: 'number',
};
const RECORD: Schema<BackupRecord> = {
  ...HELD,
  v: 'literal-1',
  startTicks: 'string?',
  spoolDirectory: 'string',
  waitForArchive: 'boolean?',
  encryptionKeyFiles: 'strings?',
  requireEncrypted: 'boolean?',
  archiveError: 'object?',
  reason: 'string?',
  endedAt: 'string?',
  stopLsn: 'string?',
  stopWalFile: 'string?',
  summaryLocations: 'strings?',
  error: 'object?',
};
const OVERVIEW: Schema<SummaryOverview> = {
  id: 'string',
  labelFile: 'string',
  tablespaceMap: 'string',
  startLsn: 'string',
  stopLsn: 'string',
  startWalFile: 'string',
  stopWalFile: 'string',
  timeline: 'number',
  walSegmentSize: 'number',
  serverVersion: 'number',
  systemIdentifier: 'string',
  backupFrom: 'string',
  startedAt: 'string',
  stoppedAt: 'string',
  tool: 'object',
  attachments: 'array?',
};
const RECEIPT: Schema<SinkReceipt> = { location: 'string', written: 'boolean' };

/** A BackupError's JSON. */
const isErrorJson = (value: unknown): value is BackupErrorJson => conforms(value, ERROR);
/** A progress line's payload. */
const isProgressUpdate = (value: unknown): value is ProgressUpdate => conforms(value, PROGRESS);
/** A held backup's status. */
const isHolderStatus = (value: unknown): value is HolderStatus => conforms(value, STATUS);
/** A backup's record. */
const isBackupRecord = (value: unknown): value is BackupRecord =>
  conforms(value, RECORD) && (value.error === undefined || isErrorJson(value.error)) && (value.archiveError === undefined || isErrorJson(value.archiveError));
/** A summary overview (a summary without attachment bodies). */
const isSummaryOverview = (value: unknown): value is SummaryOverview => conforms(value, OVERVIEW);
/** Sink receipts. */
const isReceipts = (value: unknown): value is SinkReceipt[] => Array.isArray(value) && value.every((receipt) => conforms(receipt, RECEIPT));

const CONFIG: Schema<HolderConfig> = {
  id: 'string',
  runtimeDir: 'string',
  sinks: 'strings',
  connection: 'object',
  password: 'string?',
  encryptionKeys: 'string?',
  encryptionKeyFiles: 'strings?',
  requireEncrypted: 'boolean?',
  fast: 'boolean',
  maxHoldMs: 'number',
  waitForArchive: 'boolean',
  startLog: 'string?',
  includeWal: 'boolean?',
  spoolDirectory: 'string?',
  archiveTimeoutMs: 'number?',
  heartbeatIntervalMs: 'number?',
};
/** A holder's configuration (the connection: an object with `uri`, `database` or neither). */
const isHolderConfig = (value: unknown): value is HolderConfig =>
  conforms(value, CONFIG) && Object.values(value.connection).every((field) => typeof field === 'string');
