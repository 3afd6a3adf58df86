import { createConnection } from 'node:net';
import { BackupError, type BackupErrorJson } from '../errors.js';

/** Version of the holder's JSON-lines protocol. */
export const PROTOCOL_VERSION = 1;

/** A request to a holder: one JSON object on one line. */
export type HolderRequest = { readonly v: 1; readonly op: 'status' } | { readonly v: 1; readonly op: 'stop' } | { readonly v: 1; readonly op: 'abort'; readonly reason?: string };

/** A holder's answer: one JSON object on one line. */
export type HolderResponse = ({ readonly v: 1; readonly ok: true } & Record<string, unknown>) | { readonly v: 1; readonly ok: false; readonly error: BackupErrorJson };

/** Why a socket could not be reached: no holder is listening there. */
export class NoHolderError extends Error {
  constructor(readonly code: string) {
    super(`no holder is listening (${code})`);
  }
}

/**
 * Sends one request and reads one response line. Rejects with {@link NoHolderError} when nobody
 * listens (ENOENT, ECONNREFUSED), and HOLDER_FAILED when the holder hangs up without answering.
 */
export function sendRequest(socketPath: string, request: HolderRequest): Promise<HolderResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = '';
    let settled = false;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      fn();
    };
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      try {
        const response = JSON.parse(buffer.slice(0, newline)) as HolderResponse;
        done(() => resolve(response));
      } catch (error) {
        done(() => reject(new BackupError('HOLDER_FAILED', 'The holder answered with something that is not JSON.', { cause: error })));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') done(() => reject(new NoHolderError(error.code!)));
      else done(() => reject(new BackupError('HOLDER_FAILED', `Could not talk to the holder: ${error.message}`, { cause: error })));
    });
    socket.on('close', () => done(() => reject(new BackupError('HOLDER_FAILED', 'The holder closed the connection without answering (did it crash? see its log).'))));
  });
}
