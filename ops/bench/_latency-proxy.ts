// ops/bench/_latency-proxy.ts
// An HTTP proxy between runtimes and MinIO that delays a share of requests by up to a few seconds: a slow NAS for the soak bench.

import http from 'node:http';

export interface LatencyProxy {
  /** `http://127.0.0.1:<port>`: give this to the runtimes as BTC_TS_S3_ENDPOINT. */
  url: string;
  /** Requests forwarded, and how many of them were delayed (with the total delay added, ms). */
  stats(): { requests: number; delayed: number; delayMsTotal: number; maxDelayMs: number };
  close(): Promise<void>;
}

/**
 * Forwards every request unchanged (the Host header too, so SigV4 signatures still match) to
 * `target`; with probability `share` it first waits a uniform 0 … `maxDelayMs` ms. `random` is
 * injectable for a seeded run.
 */
export async function startLatencyProxy(target: URL, options: { share: number; maxDelayMs: number; random?: () => number }): Promise<LatencyProxy> {
  const random = options.random ?? Math.random;
  const counts = { requests: 0, delayed: 0, delayMsTotal: 0, maxDelayMs: 0 };
  const server = http.createServer((req, res) => {
    counts.requests++;
    const delay = random() < options.share ? Math.round(random() * options.maxDelayMs) : 0;
    if (delay > 0) {
      counts.delayed++;
      counts.delayMsTotal += delay;
      counts.maxDelayMs = Math.max(counts.maxDelayMs, delay);
    }
    // The body is held by the paused request stream while we wait.
    req.pause();
    setTimeout(() => {
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
      req.resume();
    }, delay);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
