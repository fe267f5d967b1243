// test/runtime-process.test.ts
// The multi-runtime harness itself: a runtime counts as started only when its own /health answers, never another process on its port.

import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnRuntime } from './helpers/runtime-process.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const dispose of cleanups.splice(0).reverse()) await dispose();
});

describe('spawnRuntime', () => {
  it('does not take another runtime answering on its port for the one it started', async () => {
    // A stand-in for a parallel test's runtime that bound the port first: it answers /health as another host.
    const squatter = http.createServer((_req, res) => res.end(JSON.stringify({ host: 'someone-else', mode: 'PROD' })));
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const port = (squatter.address() as net.AddressInfo).port;
    // A port the caller chose is not changed: the start fails, naming the port in use.
    const attempt = spawnRuntime({ host: 'harness-own', port });
    attempt.then((r) => cleanups.push(() => r.dispose())).catch(() => undefined);
    await expect(attempt).rejects.toThrow(/EADDRINUSE/);
  });
});
