// test/e2e/storage-failover.test.ts
// A real runtime against its own MinIO: stop MinIO → writes go to the cache and status says so; start → back after N probes.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { createS3Store } from '../../runtime/store/s3.ts';
import { cacheStoreOf, readAudit } from '../helpers/audit-read.ts';
import { startMinio, type MinioServer } from '../helpers/minio.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

const PROBE_SECONDS = 1;
const UP_AFTER = 3;
let minio: MinioServer;
let rt: RuntimeProcess;

beforeAll(async () => {
  minio = await startMinio();
  rt = await spawnRuntime({
    host: 'probe-host',
    env: { ...minio.env, BTC_TS_PROBE_SECONDS: String(PROBE_SECONDS), BTC_TS_MODE: 'PROD' },
  });
});
afterAll(async () => {
  await rt?.dispose();
  await minio?.dispose();
});

type Health = { storage: { primary: string; secondary: string } };

async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await predicate()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

it('flips to the cache within two probe intervals and back after N good probes, audited once each way', async () => {
  await waitFor(async () => (await rt.get<Health>('/health')).storage.primary === 'up', 10_000);

  await minio.stop();
  const downAfterMs = await waitFor(async () => (await rt.get<Health>('/health')).storage.primary === 'down', 10_000);
  expect(downAfterMs).toBeLessThanOrEqual(2 * PROBE_SECONDS * 1000 + 500);
  const down = await rt.get<Health>('/health');
  expect(down.storage.secondary).toBe('used');

  // While down, the status object lands in the cache and says so.
  const cache = cacheStoreOf(rt.dataDir);
  await waitFor(async () => {
    const s = await cache.getOrNull('collector/status/probe-host.json');
    return !!s && JSON.parse(s.body.toString()).storage.primary === 'down';
  }, 5_000);
  const cachedStatus = JSON.parse((await cache.get('collector/status/probe-host.json')).body.toString());
  expect(cachedStatus.storage).toMatchObject({ primary: 'down', secondary: 'used' });
  expect(cachedStatus.sync.pending).toBe(true);

  await new Promise((r) => setTimeout(r, 3 * PROBE_SECONDS * 1000)); // stays down, no thrash
  await minio.restart();
  const restartedAt = Date.now();
  const upAfterMs = await waitFor(async () => (await rt.get<Health>('/health')).storage.primary === 'up', 15_000);
  console.log(`[storage-failover] down after ${downAfterMs} ms, back up ${upAfterMs} ms after restart (probe ${PROBE_SECONDS}s, up after ${UP_AFTER})`);
  // Hysteresis: not before UP_AFTER consecutive good probes.
  expect(Date.now() - restartedAt).toBeGreaterThanOrEqual((UP_AFTER - 1) * PROBE_SECONDS * 1000 - 200);

  const primary = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  await waitFor(async () => (await readAudit([primary, cache])).some((e) => e.event === 'collector.storage.switch' && e.payload.to === 'primary'), 5_000);
  const switches = (await readAudit([primary, cache])).filter((e) => e.event === 'collector.storage.switch');
  expect(switches.map((e) => e.payload.to)).toEqual(['secondary', 'primary']);
  expect(switches.every((e) => e.host === 'probe-host')).toBe(true);
  // Secrets never reach the audit.
  expect(JSON.stringify(switches)).not.toContain(minio.secretKey);
  const status = JSON.parse((await primary.get('collector/status/probe-host.json')).body.toString());
  expect(status.storage).toMatchObject({ primary: 'up', secondary: 'idle' });
});
