import { createConnection } from 'node:net';
import { BackupError, isBackupError, type BackupErrorJson } from '../errors.js';

/**
 * Version of the holder's control protocol: JSON lines over the `<id>.sock` Unix socket. A client
 * writes one request line; the holder answers with one line (after progress lines, if asked) and
 * closes the connection.
 */
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

/**
 * A request to a holder. `stop` ends the backup with its summary; `abort` without one. A `stop`
 * with `progress: true` gets `{"v":1,"progress":{...}}` lines before its answer.
 */
export type HolderRequest =
  | { readonly v: 1; readonly op: 'status' }
  | { readonly v: 1; readonly op: 'stop'; readonly progress?: boolean }
  | { readonly v: 1; readonly op: 'abort'; readonly reason?: string };

/** A holder's answer. */
export type HolderResponse = ({ readonly v: 1; readonly ok: true } & Record<string, unknown>) | { readonly v: 1; readonly ok: false; readonly error: BackupErrorJson };

/** Nobody listens on the socket (ENOENT, ECONNREFUSED): the holder is gone, or not there yet. */
export class NoHolderError extends Error {
  override readonly name = 'NoHolderError';
  constructor(readonly code: string) {
    super(`no holder is listening (${code})`);
  }
}

/** Options of {@link sendRequest}. */
export interface SendRequestOptions {
  /** Give up after this many ms (HOLDER_FAILED). A stop may take minutes (archive wait): default none. */
  readonly timeoutMs?: number;
  /** Receives the progress lines of a request that asked for them. */
  readonly onProgress?: (progress: ProgressUpdate) => void;
}

/**
 * Sends one request and reads the one response line. Rejects with {@link NoHolderError} when
 * nobody listens, and with `HOLDER_FAILED` when the holder hangs up without answering.
 */
export function sendRequest(socketPath: string, request: HolderRequest, options: SendRequestOptions = {}): Promise<HolderResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = '';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(
        () => done(() => reject(new BackupError('HOLDER_FAILED', `The holder did not answer within ${options.timeoutMs} ms on ${socketPath}.`, { details: { socket: socketPath } }))),
        options.timeoutMs,
      );
    }
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let newline = buffer.indexOf('\n'); newline >= 0 && !settled; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          const response = JSON.parse(line) as HolderResponse | { v: 1; progress: ProgressUpdate };
          if (response?.v !== PROTOCOL_VERSION) throw new Error(`protocol version ${String(response?.v)}`);
          if ('progress' in response && !('ok' in response)) {
            options.onProgress?.(response.progress);
            continue;
          }
          done(() => resolve(response as HolderResponse));
        } catch (error) {
          done(() => reject(new BackupError('HOLDER_FAILED', `The holder answered with something this version does not understand: ${(error as Error).message}.`, { cause: error })));
        }
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') done(() => reject(new NoHolderError(error.code!)));
      // A holder that ends while we write (abort won a race with post) resets the connection.
      else if (error.code === 'ECONNRESET' || error.code === 'EPIPE') done(() => reject(hangUp(socketPath, error)));
      else done(() => reject(new BackupError('HOLDER_FAILED', `Could not talk to the holder on ${socketPath}: ${error.message}`, { cause: error })));
    });
    socket.on('close', () => done(() => reject(hangUp(socketPath))));
  });
}

function hangUp(socketPath: string, cause?: Error): BackupError {
  return new BackupError('HOLDER_FAILED', 'The holder closed the connection without answering (did it die? see its log).', {
    details: { socket: socketPath, hungUp: true },
    ...(cause ? { cause } : {}),
  });
}

/**
 * Whether {@link sendRequest} failed because the holder hung up without answering: it may have
 * just ended, so the caller should read the backup's record rather than report a failure.
 */
export function isHangUp(error: unknown): boolean {
  return isBackupError(error, 'HOLDER_FAILED') && error.details.hungUp === true;
}

/** Turns an error answer back into a BackupError. */
export function responseError(error: BackupErrorJson): BackupError {
  return new BackupError(error.code, error.message, { details: error.details ?? {} });
}
