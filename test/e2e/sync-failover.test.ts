// test/e2e/sync-failover.test.ts
// A steady writer while the NAS (a real MinIO) is stopped for 20 s: cache takes over, status shows it, sync makes the primary whole.

import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { Runtime } from '../../runtime/context.ts';
import { listKeys } from '../../runtime/store/types.ts';
import { startMinio, type MinioServer } from '../helpers/minio.ts';
import { BTC, inProcessRuntime, readAuditEvents, readRecords, sleep, startTestWriter } from '../helpers/sync-fixtures.ts';
import { statusKey } from '../../runtime/keys.ts';

const OUTAGE_MS = 20_000;
let minio: MinioServer | undefined;
let runtime: Runtime | undefined;

afterAll(async () => {
  await runtime?.shutdown();
  await minio?.dispose();
});

it('records appended during a 20 s NAS outage reach the primary exactly once, in order, and the cache ends empty', { timeout: 120_000 }, async () => {
  minio = await startMinio();
  runtime = await inProcessRuntime(minio, mkdtempSync(path.join(os.tmpdir(), 'btc-ts-failover-')));
  const rt = runtime;
  const epoch = 4; // the lease is another issue's: the fencing token is set directly here
  rt.lease.epoch = epoch;
  rt.lease.holder = true;
  const writer = startTestWriter(rt, { id: BTC, epoch, everyMs: 50, tickMs: 500 });
  // A steady writer first: wait until it has appended more than 20 records (bounded), not a fixed time.
  for (const until = Date.now() + 30_000; writer.appended <= 20 && Date.now() < until; ) await sleep(100);
  expect(writer.appended).toBeGreaterThan(20);

  await minio.stop();
  const outageStarted = Date.now();
  // While the NAS is down: writes land in the cache and status says so.
  let sawDown = false;
  while (Date.now() - outageStarted < OUTAGE_MS) {
    await sleep(1_000);
    const doc = rt.status.current();
    if (doc.storage.primary === 'down') {
      sawDown = true;
      expect(doc.storage.secondary).toBe('used');
      expect(doc.sync.pending).toBe(true);
    }
  }
  expect(sawDown).toBe(true);
  const cachedStatus = JSON.parse((await rt.store.cache.get(statusKey(rt.host))).body.toString()) as { storage: Record<string, string>; sync: { pending: boolean } };
  expect(cachedStatus.storage).toMatchObject({ primary: 'down', secondary: 'used' });
  expect(cachedStatus.sync.pending).toBe(true);
  expect((await listKeys(rt.store.cache, 'raw/')).length).toBeGreaterThan(10);
  expect(await listKeys(rt.store.cache, 'latest/')).toHaveLength(1);

  await minio.restart();
  // Back up: probes switch the router after 3 good ones, then the schedule's `when` runs sync.
  const deadline = Date.now() + 40_000;
  while (Date.now() < deadline) {
    await sleep(500);
    if (rt.store.state().primary === 'up' && !rt.store.state().syncPending) break;
  }
  expect(rt.store.state()).toMatchObject({ primary: 'up', secondary: 'idle', syncPending: false });
  await sleep(1_000);
  const appended = await writer.stop();
  expect(writer.errors).toEqual([]);
  await rt.streams.ship(rt.store); // the last tick's worth
  await rt.audit.ship(rt.store);

  const records = await readRecords(rt.store.primary);
  expect(records).toHaveLength(appended);
  expect(records.map((r) => r.seq)).toEqual(Array.from({ length: appended }, (_, i) => i));
  expect(records.every((r) => r.epoch === epoch)).toBe(true);
  const keys = await listKeys(rt.store.primary, 'raw/');
  expect(new Set(keys).size).toBe(keys.length);
  expect(await listKeys(rt.store.cache, 'raw/')).toEqual([]);
  expect(await listKeys(rt.store.cache, 'latest/')).toEqual([]);

  const events = await readAuditEvents(rt.store.primary);
  const switches = events.filter((e) => e.event === 'collector.storage.switch').map((e) => e.payload.to);
  expect(switches).toEqual(['secondary', 'primary']);
  const names = events.map((e) => e.event);
  for (const name of ['collector.sync.plan', 'collector.sync.start', 'collector.sync.complete']) expect(names).toContain(name);
  expect(names).not.toContain('collector.sync.failed');
  // The switch-down event itself was written during the outage: it went through the cache and arrived.
  const finalStatus = JSON.parse((await rt.store.primary.get(statusKey(rt.host))).body.toString()) as { storage: Record<string, string>; sync: { pending: boolean; last: { ok: boolean } } };
  expect(finalStatus.storage).toMatchObject({ primary: 'up', secondary: 'idle' });
  expect(finalStatus.sync.pending).toBe(false);
  expect(finalStatus.sync.last.ok).toBe(true);
});
