import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isHangUp, NoHolderError, sendRequest } from '../../src/agent/client.js';

/** A holder stand-in that ends every connection the way `behave` says, without answering. */
async function listen(path: string, behave: (socket: Socket) => void): Promise<Server> {
  const server = createServer({ pauseOnConnect: true }, behave);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

describe('holder protocol: a holder that ends mid-request', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgsb-protocol-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Post racing abort: the holder exits with our request unread, and Linux resets the connection
  // (ECONNRESET), where a clean exit only closes it. Both mean "read the record", not a failure.
  for (const [name, behave] of [
    ['closes with the request unread (connection reset)', (socket: Socket) => setTimeout(() => socket.destroy(), 20)],
    ['reads the request and closes', (socket: Socket) => socket.resume().once('data', () => socket.end())],
  ] as const) {
    test(`${name}: reported as a hang-up, every time`, async () => {
      const path = join(dir, `${name.length}.sock`);
      const server = await listen(path, behave);
      try {
        for (let i = 0; i < 10; i++) {
          await assert.rejects(sendRequest(path, { op: 'status' }), (error) => isHangUp(error));
        }
      } finally {
        server.close();
      }
    });
  }

  test('nobody listening is NoHolderError, not a hang-up', async () => {
    await assert.rejects(sendRequest(join(dir, 'none.sock'), { op: 'status' }), (error) => error instanceof NoHolderError && !isHangUp(error));
  });
});
