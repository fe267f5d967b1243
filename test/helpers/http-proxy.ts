// test/helpers/http-proxy.ts
// A small HTTP proxy to put between a runtime and MinIO: answers a share of chosen requests with 503 SlowDown, forwards the rest untouched.

import http from 'node:http';
import net from 'node:net';

export interface ThrottleRule {
  /** Which requests may be throttled, e.g. PUTs of `raw/` keys. */
  match: (req: { method: string; path: string }) => boolean;
  /** Every `every`-th matching request is answered 503 SlowDown (2: half of them). */
  every: number;
  /** Sent as `Retry-After` (seconds). */
  retryAfterSeconds: number;
}

export interface HttpProxy {
  /** `http://127.0.0.1:<port>`: give this to the runtime as BTC_TS_S3_ENDPOINT. */
  url: string;
  /** Requests answered 503 SlowDown so far. */
  throttled(): number;
  /** Per decoded request path (`/<bucket>/<key>`, no query), how many PUTs the upstream accepted (2xx). */
  acceptedPuts(): Map<string, number>;
  close(): Promise<void>;
}

const SLOW_DOWN_XML =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

/**
 * Listens on a free loopback port and forwards every request to `target` with its headers as they
 * came (the Host header too: SigV4 signed it, and MinIO checks the signature against it).
 */
export async function startHttpProxy(target: string, rule: ThrottleRule): Promise<HttpProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<net.Socket>();
  const accepted = new Map<string, number>();
  let matched = 0;
  let throttled = 0;

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    if (rule.match({ method, path }) && ++matched % rule.every === 0) {
      throttled++;
      // Read the body first, so the client's keep-alive connection stays usable.
      req.resume();
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/xml', 'retry-after': String(rule.retryAfterSeconds), 'content-length': Buffer.byteLength(SLOW_DOWN_XML) });
        res.end(SLOW_DOWN_XML);
      });
      return;
    }
    const forward = http.request(
      { hostname: upstream.hostname, port: upstream.port, method, path: req.url, headers: req.headers, agent },
      (answer) => {
        if (method === 'PUT' && (answer.statusCode ?? 0) >= 200 && (answer.statusCode ?? 0) < 300) accepted.set(path, (accepted.get(path) ?? 0) + 1);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    throttled: () => throttled,
    acceptedPuts: () => new Map(accepted),
    async close() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
