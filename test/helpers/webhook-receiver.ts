// test/helpers/webhook-receiver.ts
// A real local HTTP webhook receiver for alert tests: records every POST (path, parsed body), answers 200 (or 500 on /fail).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  path: string;
  body: any;
  at: number;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** host:port, for alerts.formats. */
  hostPort: string;
  received: ReceivedHook[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const url = req.url ?? '/';
      let body: unknown = null;
      try {
        body = JSON.parse(data || 'null');
      } catch {
        body = data;
      }
      received.push({ path: url, body, at: Date.now() });
      res.writeHead(url.startsWith('/fail') ? 500 : 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
