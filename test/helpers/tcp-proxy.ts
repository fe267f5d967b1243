// test/helpers/tcp-proxy.ts
// A small TCP proxy to put between one runtime and MinIO: cut() partitions that runtime, restore() heals it.

import net from 'node:net';

export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: give this to the runtime as BTC_TS_S3_ENDPOINT. */
  url: string;
  port: number;
  /** Connections accepted so far (for request accounting in benchmarks). */
  connections(): number;
  /** Partition: every open connection is reset and new ones are reset on accept, like a dead link. */
  cut(): void;
  /** Heal the partition: new connections are forwarded again. */
  restore(): void;
  close(): Promise<void>;
}

/** Listens on a free loopback port and forwards every connection to `target` (host:port). */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let isCut = false;
  let accepted = 0;

  const server = net.createServer((client) => {
    accepted++;
    if (isCut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    cut() {
      isCut = true;
      for (const socket of open) socket.resetAndDestroy();
      open.clear();
    },
    restore() {
      isCut = false;
    },
    async close() {
      for (const socket of open) socket.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
