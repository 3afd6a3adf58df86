// The client end of the control socket: one request, its progress lines, one answer.
import { createConnection } from 'node:net';
import { BackupError, isBackupError, type BackupErrorJson } from '../errors.js';
import { abortReason } from '../util/abort.js';
import { decodeLine, encodeRequest, type HolderRequest, type HolderResponse, type ProgressUpdate } from './protocol.js';

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
  /** Stops waiting (the holder goes on with what it was asked) and rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * Sends one request and reads the one response line. Rejects with {@link NoHolderError} when
 * nobody listens, and with `HOLDER_FAILED` when the holder hangs up without answering.
 */
export function sendRequest(socketPath: string, request: HolderRequest, options: SendRequestOptions = {}): Promise<HolderResponse> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = '';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      fn();
    };
    const onAbort = (): void => done(() => reject(abortReason(signal!)));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(
        () => done(() => reject(new BackupError('HOLDER_FAILED', `The holder did not answer within ${options.timeoutMs} ms on ${socketPath}.`, { details: { socket: socketPath } }))),
        options.timeoutMs,
      );
    }
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(encodeRequest(request)));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let newline = buffer.indexOf('\n'); newline >= 0 && !settled; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          const decoded = decodeLine(line);
          if (decoded.kind === 'progress') {
            options.onProgress?.(decoded.progress);
            continue;
          }
          done(() => resolve(decoded));
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
