// test/e2e/e2e-cluster.test.ts
// The shared e2e set-up leaves nothing behind when it fails half-way: the runtime that did start is stopped, its data dir removed, the emulator closed.

import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { expect, inject, it } from 'vitest';
import { e2eCluster } from '../helpers/e2e-cluster.ts';
import { freePort } from '../helpers/minio.ts';

it('a cluster whose second runtime cannot start rejects with that runtime\'s error, after stopping the first and the emulator', { timeout: 120_000 }, async () => {
  const minio = inject('minio');
  const first = `pc-cluster-${randomBytes(3).toString('hex')}`;
  const second = `${first}-bad`;
  const emulatorPort = await freePort();
  const leftovers = () => readdirSync(os.tmpdir()).filter((d) => d.startsWith(`btc-ts-rt-${first}-`));
  const started = e2eCluster({
    minio,
    name: 'e2e-cluster',
    hosts: [first, second],
    emulator: { port: emulatorPort },
    timings: { leaseSeconds: 3, heartbeatSeconds: 0.5 },
    // Too short an API token: the second runtime's config load refuses it and the process exits.
    hostEnv: { [second]: { BTC_TS_API_TOKEN: 'short' } },
  });
  // One after the other: the second is spawned only once the first answered /health, so the
  // error names the second, and the first really ran before the failure.
  await expect(started).rejects.toThrow(new RegExp(`runtime ${second} exited with`));
  expect(leftovers()).toEqual([]);
  const emulatorAnswer = await fetch(`http://127.0.0.1:${emulatorPort}/time`, { signal: AbortSignal.timeout(2_000) }).then(
    (r) => r.status,
    () => 'closed',
  );
  expect(emulatorAnswer).toBe('closed');
});
