import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that can stop forwarding without closing anything: to both ends the
 * path looks alive but silent, as when a firewall starts dropping packets.
 */
export class BlackholeProxy {
  #server: Server;
  #sockets = new Set<Socket>();
  #dropping = false;
  port = 0;

  private constructor(readonly targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (d) => {
        if (!this.#dropping) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!this.#dropping) client.write(d);
      });
      // While dropping, a close on one side must not reach the other either.
      client.on('end', () => this.#dropping || upstream.end());
      upstream.on('end', () => this.#dropping || client.end());
    });
  }

  static async start(targetPort: number): Promise<BlackholeProxy> {
    const proxy = new BlackholeProxy(targetPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  /** From now on every byte either way is silently dropped. */
  drop(): void {
    this.#dropping = true;
  }

  /** Closes everything. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
