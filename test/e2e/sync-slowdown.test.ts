// test/e2e/sync-slowdown.test.ts
// A real runtime syncs a backlog through a proxy that answers every 4th raw/ PUT with 503 SlowDown + Retry-After: 1: sync finishes, the lease stays put, no storage switch.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, inject, it } from 'vitest';
import { leaseDocSchema } from '../../runtime/lease.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listKeys } from '../../runtime/store/types.ts';
import { cacheStoreOf } from '../helpers/audit-read.ts';
import { startHttpProxy, type HttpProxy } from '../helpers/http-proxy.ts';
import { auditLines, freshBucket, healthOf, leaseEnv, waitFor, waitForHolder } from '../helpers/lease-probe.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';
import { BTC, segmentBody, writeIntoDir } from '../helpers/sync-fixtures.ts';
import { LEASE_KEY } from '../../runtime/keys.ts';

const SEGMENTS = 80;
const THROTTLE_EVERY = 4;
const minio = inject('minio');

let proxy: HttpProxy | undefined;
let runtime: RuntimeProcess | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await runtime?.stop();
  await proxy?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  runtime = proxy = dataDir = undefined;
});

it('sync under 503 SlowDown: every object uploaded exactly once, concurrency lowered, one holder at one epoch throughout, no collector.storage.switch', { timeout: 240_000 }, async () => {
  const bucket = await freshBucket(minio, 'slowdown');
  const rawPut = (p: { method: string; path: string }) => p.method === 'PUT' && p.path.startsWith(`/${bucket}/raw/`);
  proxy = await startHttpProxy(minio.endpoint, { match: rawPut, every: THROTTLE_EVERY, retryAfterSeconds: 1 });

  // A backlog left in the cache by an outage: the runtime finds it at start and syncs it on its schedule.
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-slowdown-'));
  const firstTs = Date.now() - 3_600_000;
  const keys: string[] = [];
  for (let i = 0; i < SEGMENTS; i++) {
    const { key, body } = segmentBody(BTC, 1, i * 10, 10, firstTs + i * 1_000);
    writeIntoDir(path.join(dataDir, 'cache'), key, body);
    keys.push(key);
  }
  runtime = await spawnRuntime({
    host: 'pc-slow',
    dataDir,
    env: leaseEnv(minio, proxy.url, bucket, { leaseSeconds: 3, heartbeatSeconds: 0.5 }, { BTC_TS_PROBE_SECONDS: '0.5' }),
  });
  const rt = runtime;
  const holder = await waitForHolder(rt, 30_000);
  const direct = createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  const cache = cacheStoreOf(dataDir);

  const problems: string[] = [];
  await waitFor('the backlog to reach the primary and a sync to complete', async () => {
    const health = await healthOf(rt);
    if (!health?.leader.self || health.leader.epoch !== holder.leader.epoch || health.leader.degraded) problems.push(`health ${JSON.stringify(health?.leader)}`);
    const lease = leaseDocSchema.parse(JSON.parse((await direct.get(LEASE_KEY)).body.toString()));
    if (lease.host !== 'pc-slow' || lease.epoch !== holder.leader.epoch || lease.released) problems.push(`lease ${lease.host}@${lease.epoch}`);
    return (await listKeys(cache, 'raw/')).length === 0 && auditLines(rt, 'collector.sync.complete').length > 0;
  }, 180_000, 100);

  expect(problems).toEqual([]);
  expect(proxy.throttled()).toBeGreaterThan(SEGMENTS / THROTTLE_EVERY / 2);
  expect((await listKeys(direct, 'raw/')).sort()).toEqual([...keys].sort());
  // Every segment PUT the primary accepted, exactly once (a throttled one is retried, never doubled).
  const accepted = proxy.acceptedPuts();
  for (const key of keys) expect(accepted.get(`/${bucket}/${key}`), key).toBe(1);
  const complete = auditLines(rt, 'collector.sync.complete')[0]!;
  expect(complete).toMatchObject({ uploaded: SEGMENTS, conflicts: 0 });
  const throttled = complete.throttled as { answers: number; lowest_concurrency: number };
  expect(throttled.answers).toBeGreaterThan(0);
  expect(throttled.lowest_concurrency).toBeLessThan(24);
  expect(auditLines(rt, 'collector.sync.failed')).toEqual([]);
  expect(auditLines(rt, 'collector.storage.switch')).toEqual([]);
  expect(auditLines(rt, 'collector.leader.degraded')).toEqual([]);
  expect(auditLines(rt, 'collector.leader.acquire')).toHaveLength(1);
});
