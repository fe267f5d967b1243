// test/worker.test.ts
// The duties in workerd (miniflare 3) and in a Node runtime on one MinIO: same answers, same objects, one lease holder, cron ticks.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime, type Runtime } from '../runtime/context.ts';
import { createApp } from '../runtime/http/app.ts';
import { DATASETS } from '../runtime/dashboard-export/keys.ts';
import { verifyChain } from '../runtime/dashboard-export/verify.ts';
import { silentLogger } from '../runtime/logger.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { listKeys, type ObjectStore } from '../runtime/store/types.ts';
import { putRaw } from './helpers/dashboard.ts';
import { freshBucket, healthOf, leaseEnv, sleep, waitFor } from './helpers/lease-probe.ts';
import { spawnRuntime, type RuntimeProcess } from './helpers/runtime-process.ts';
import { putFills, series, STRATEGY, T0 } from './helpers/state-fixtures.ts';
import { startWorker, workerBundle, type TestWorker } from './helpers/worker.ts';
import { LEASE_KEY } from '../runtime/keys.ts';

const minio = inject('minio');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const s3Env = (bucket: string) => ({ BTC_TS_S3_ENDPOINT: minio.endpoint, BTC_TS_S3_BUCKET: bucket, BTC_TS_S3_ACCESS_KEY: minio.accessKey, BTC_TS_S3_SECRET_KEY: minio.secretKey });
const storeOf = (bucket: string) => createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });

async function worker(bindings: Record<string, string>): Promise<TestWorker> {
  const w = await startWorker({ BTC_TS_LOG_LEVEL: 'warn', ...bindings });
  cleanups.push(() => w.dispose());
  return w;
}

/** An in-process Node runtime on `bucket` (the real createRuntime and createApp, no listening socket). */
async function nodeRuntime(bucket: string, host: string, overrides: Record<string, unknown>): Promise<{ runtime: Runtime; call(name: string, input?: unknown): Promise<{ status: number; body: any }> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-worker-node-'));
  const loaded = loadConfig({ env: { ...s3Env(bucket), BTC_TS_HOST: host, BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs') }, overrides });
  const runtime = await createRuntime(loaded, { log: silentLogger() });
  cleanups.push(async () => {
    await runtime.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  const app = createApp(runtime);
  return {
    runtime,
    async call(name, input = {}) {
      const res = await app.request(`http://127.0.0.1:8787/fn/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', host: '127.0.0.1:8787' }, body: JSON.stringify(input) });
      return { status: res.status, body: await res.json() };
    },
  };
}

/**
 * What may differ between two runs of the same duty on the same inputs: the wall clock (ISO times,
 * compact key stamps, *_ms durations, epochs) and the checksums of bytes that hold it; nothing else.
 */
function normalise(value: unknown, key = ''): unknown {
  // A checksum of bytes that carry a time stamp (generated_at): the bytes themselves are compared, normalised.
  if (typeof value === 'string' && /sha256/.test(key)) return '<sha256>';
  if (typeof value === 'string') {
    return value.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<iso>').replace(/\d{8}T\d{6,9}Z/g, '<stamp>');
  }
  if (typeof value === 'number' && /(_ms|^ms|^latency|^elapsed|^duration|^ts)$/.test(key)) return '<n>';
  if (Array.isArray(value)) return value.map((v) => normalise(v, key));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v, k)]));
  return value;
}

/** Every object under the prefixes in key order, as [key, body] (JSON parsed, JSONL per line), normalised; keys that only differ by time stay apart. */
async function objects(store: ObjectStore, prefixes: string[]): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  for (const prefix of prefixes) {
    for (const key of await listKeys(store, prefix)) {
      const text = (await store.get(key)).body.toString('utf8');
      let body: unknown;
      try {
        body = key.endsWith('.jsonl') ? text.trim().split('\n').map((l) => JSON.parse(l)) : JSON.parse(text);
      } catch {
        body = text;
      }
      out.push([normalise(key) as string, normalise(body)]);
    }
  }
  return out;
}

beforeAll(async () => {
  await workerBundle(); // built once for the file; the tests time workerd, not esbuild
}, 60_000);

describe('the duties in workerd (miniflare) against a Node runtime, one MinIO', () => {
  it('state-update, dashboard-export, storage-probe and dashboard verify: same answers and same objects from the same inputs', async () => {
    const [nodeBucket, workerBucket] = await Promise.all([freshBucket(minio, 'w-node'), freshBucket(minio, 'w-edge')]);
    // The same fixtures in both buckets: fills for state-update, raw segments for the dashboard.
    for (const store of [storeOf(nodeBucket), storeOf(workerBucket)]) {
      await putFills(store, 'a.jsonl', series(T0, 10));
      const at = (min: number, lat: number) => ({ ts: T0 + min * 60_000, ingest_ts: T0 + min * 60_000 + lat });
      await putRaw(store, { exchange: 'emu', topic: 'ticker', symbol: 'BTC/USDT' }, 1, 0, [at(1, 10), at(2, 20), at(3, 30), at(61, 5)]);
    }
    const strategies = { strategies: { day_orb: STRATEGY } };
    const node = await nodeRuntime(nodeBucket, 'twin', strategies);
    const edge = await worker({ ...s3Env(workerBucket), BTC_TS_HOST: 'twin', BTC_TS_CONFIG_JSON: JSON.stringify(strategies) });
    console.log(`[worker] bundle ${(await workerBundle()).bytes} bytes; cold start to the first /health ${edge.coldStartMs} ms`);

    const calls: Array<[string, unknown]> = [
      ['storage-probe', {}],
      ['state-update', { simulate_live: true, max_delta: 0.5, var_cap: 10, liquidity_cap: 100 }],
      ['state-update', { simulate_live: true, max_delta: 0.5, var_cap: 10, liquidity_cap: 100 }], // nothing new: a no-op decision
      ['state-update', { strategy: 'nope' }], // refused the same way
      ['dashboard-export', { job_id: 'twin-job-1', upload: false }],
      ['storage-probe', {}],
    ];
    for (const [name, input] of calls) {
      const [n, w] = [await node.call(name, input), await edge.call(name, input)];
      expect(w.status, `${name} ${JSON.stringify(input)}: ${JSON.stringify(w.body)}`).toBe(n.status);
      // What a worker has not got, by design: a local copy's folder (dashboard-export) and a disk to measure (storage-probe): null there.
      const strip = (b: any) =>
        name === 'dashboard-export' ? { ...b, result: { ...b.result, local_dir: null } } : name === 'storage-probe' && b.ok ? { ...b, result: { ...b.result, disk_free_bytes: null } } : b;
      if (name === 'storage-probe') expect(w.body.result).toMatchObject({ disk_free_bytes: null, disk_low: false });
      expect(normalise(strip(w.body)), `${name} answer`).toEqual(normalise(strip(n.body)));
    }

    const prefixes = ['state/', 'state_archive/', 'dashboard/'];
    const [fromNode, fromWorker] = [await objects(storeOf(nodeBucket), prefixes), await objects(storeOf(workerBucket), prefixes)];
    expect(fromNode.length).toBeGreaterThan(8); // state, its diffs, 4 datasets, indexes, manifest, heartbeat, history, automation log
    expect(fromWorker.map(([k]) => k)).toEqual(fromNode.map(([k]) => k));
    fromNode.forEach(([key, body], i) => expect(fromWorker[i]![1], key).toEqual(body));

    // storage-probe's status object: the same storage and sync rows (the writer and clock-skew fields are each runtime's own).
    const status = async (bucket: string) => JSON.parse((await storeOf(bucket).get('collector/status/twin.json')).body.toString('utf8'));
    const [sn, sw] = [await status(nodeBucket), await status(workerBucket)];
    expect({ host: sw.host, primary: sw.storage.primary, secondary: sw.storage.secondary, sync: sw.sync }).toEqual({ host: sn.host, primary: sn.storage.primary, secondary: sn.storage.secondary, sync: sn.sync });

    // `runtime dashboard verify` (verifyChain under Node) and the worker's POST /dashboard/verify judge the two chains alike.
    const verifyInput = { max_heartbeat_age_h: 6, secrets: ['BTC_TS_S3_SECRET_KEY'] };
    const byNode = await verifyChain(storeOf(nodeBucket), { now: Date.now(), maxHeartbeatAgeMs: 6 * 3_600_000, expectedDatasets: [...DATASETS], secrets: verifyInput.secrets, env: s3Env(nodeBucket) });
    const byWorker = await edge.fetch('/dashboard/verify', { method: 'POST', body: verifyInput });
    expect(byWorker.status).toBe(200);
    expect(byNode.status).toBe('ok');
    expect(normalise(byWorker.body.result)).toEqual(normalise(byNode));

    // The worker's audit went straight to the store: one object per event, the state decision among them.
    const audit = await objects(storeOf(workerBucket), ['audit/']);
    const events = audit.flatMap(([, lines]) => lines) as Array<{ event: string; host: string }>;
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['state.update.decision', 'dashboard.export.complete']));
    expect(events.every((e) => e.host === 'twin')).toBe(true);
  }, 40_000);

  it('GET /fn lists only what runs; a Node-only duty is 501 not_available_here; the router answers as under Node', async () => {
    const bucket = await freshBucket(minio, 'w-routes');
    const edge = await worker({ ...s3Env(bucket), BTC_TS_HOST: 'edge', BTC_TS_API_TOKEN: 'a-worker-token-of-enough-length-0123' });
    const auth = { authorization: 'Bearer a-worker-token-of-enough-length-0123' };
    expect((await edge.fetch('/fn')).status).toBe(401);
    const listed = (await edge.fetch('/fn', { headers: auth })).body.functions.map((f: { name: string }) => f.name).sort();
    expect(listed).toEqual(['dashboard-export', 'dashboard-verify', 'data-quality', 'leader-heartbeat', 'state-override', 'state-prune', 'state-update', 'storage-probe']);
    for (const name of ['collect-tick', 'sync', 'handoff', 'alert-check']) {
      const r = await edge.fetch(`/fn/${name}`, { method: 'POST', body: {}, headers: auth });
      expect(r.status, name).toBe(501);
      expect(r.body).toMatchObject({ ok: false, error: 'not_available_here' });
      expect(r.body.message).toContain(name);
    }
    expect((await edge.fetch('/fn/nope', { method: 'POST', body: {}, headers: auth })).status).toBe(404);
    const bad = await edge.fetch('/fn/state-prune', { method: 'POST', body: { keep: -1 }, headers: auth });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ ok: false, error: 'invalid_input' });
    const prune = await edge.fetch('/fn/state-prune', { method: 'POST', body: { keep: 1 }, headers: auth });
    expect(prune).toEqual({ status: 200, body: { ok: true, result: { keep: 1, dry_run: false, groups: [], removed_total: 0 } } });
    const override = await edge.fetch('/fn/state-override', { method: 'POST', body: { action: 'disable', reason: 'edge test' }, headers: auth });
    expect(override.body.result).toMatchObject({ changed: true, current: { status: 'disabled', reason: 'edge test' } });
    const text = await edge.mf.dispatchFetch('http://worker.test/fn/state-prune', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' });
    expect(text.status).toBe(415);
  }, 20_000);

  it('a cron tick delivered by miniflare runs the scheduled duties', async () => {
    const bucket = await freshBucket(minio, 'w-cron');
    const store = storeOf(bucket);
    // The dashboard every minute (6 h by default): due at every per-minute tick, like the probe and the heartbeat.
    const edge = await worker({ ...s3Env(bucket), BTC_TS_HOST: 'edge', BTC_TS_MODE: 'PROD', BTC_TS_CONFIG_JSON: JSON.stringify({ dashboard: { everySeconds: 60 } }) });
    expect(await edge.scheduled('*/1 * * * *')).toMatchObject({ outcome: 'ok' });
    // storage-probe wrote the status, leader-heartbeat took the absent lease, dashboard-export (no leader known yet) exported.
    const status = JSON.parse((await store.get('collector/status/edge.json')).body.toString('utf8'));
    expect(status.storage).toMatchObject({ primary: 'up', secondary: 'idle' });
    const lease = JSON.parse((await store.get(LEASE_KEY)).body.toString('utf8'));
    expect(lease).toMatchObject({ host: 'edge', epoch: 1 });
    expect(JSON.parse((await store.get('dashboard/heartbeat.json')).body.toString('utf8'))).toMatchObject({ host: 'edge' });
    // The next tick renews the lease on the same isolate.
    await waitFor('a new wall-clock second (dashboard job ids are per second)', async () => Math.floor(Date.now() / 1000) > Math.floor(Date.parse(lease.started_at) / 1000), 3_000);
    expect(await edge.scheduled('*/1 * * * *')).toMatchObject({ outcome: 'ok' });
    const renewed = JSON.parse((await store.get(LEASE_KEY)).body.toString('utf8'));
    expect(renewed).toMatchObject({ host: 'edge', epoch: 1, pid: lease.pid });
    expect(renewed.heartbeat_ms).toBeGreaterThan(lease.heartbeat_ms);
    const events = ((await objects(store, ['audit/'])).flatMap(([, lines]) => lines) as Array<{ event: string }>).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['collector.leader.acquire', 'dashboard.export.complete']));
  }, 20_000);

  it('on per-minute ticks an everySeconds schedule runs at the tick after each multiple of its period, not at every tick', async () => {
    const bucket = await freshBucket(minio, 'w-period');
    const store = storeOf(bucket);
    // The default dashboard period (6 h): a tick at 00:07 is not due, the tick at 06:00 is.
    const edge = await worker({ ...s3Env(bucket), BTC_TS_HOST: 'edge', BTC_TS_MODE: 'PROD' });
    expect(await edge.scheduled('* * * * *', new Date(Date.UTC(2026, 0, 1, 0, 7)))).toMatchObject({ outcome: 'ok' });
    expect(await store.head('collector/status/edge.json')).not.toBeNull(); // the probe (every 5 s) ran
    expect(await store.head('dashboard/heartbeat.json')).toBeNull();
    expect(await edge.scheduled('* * * * *', new Date(Date.UTC(2026, 0, 1, 6, 0)))).toMatchObject({ outcome: 'ok' });
    expect(await store.head('dashboard/heartbeat.json')).not.toBeNull();
  }, 20_000);

  it('the workerd leader-heartbeat and a Node runtime never hold the lease at once; workerd takes over within the lease after kill -9', async () => {
    const LEASE_S = 5; // the e2e lease tests use 3 s; 5 s leaves a loaded machine more room before a stall looks like a dead holder
    const HEARTBEAT_S = 0.5;
    const bucket = await freshBucket(minio, 'w-lease');
    const env = leaseEnv(minio, minio.endpoint, bucket, { leaseSeconds: LEASE_S, heartbeatSeconds: HEARTBEAT_S }, { BTC_TS_MODE: 'PROD' });
    const pc: RuntimeProcess = await spawnRuntime({ host: 'pc-a', env });
    cleanups.push(() => pc.dispose());
    await waitFor('pc-a holds the lease', async () => (await healthOf(pc))?.leader.self, 15_000);
    const edge = await worker({ ...env, BTC_TS_HOST: 'edge' });

    // Three whole leases and more than 20 beats of polling (the worker would have called a lease its
    // own stale after one): it beats as its scheduler would (every heartbeat), both views are read each time.
    const beats: string[] = [];
    const end = performance.now() + 3 * LEASE_S * 1000;
    while (performance.now() < end || beats.length <= 20) {
      const beatStarted = performance.now();
      const w = (await edge.call('leader-heartbeat')).body.result;
      const n = await healthOf(pc);
      beats.push(w.action);
      expect(w.holder && n?.leader.self, `both hold at once: worker ${JSON.stringify(w)}, node ${JSON.stringify(n?.leader)}`).toBeFalsy();
      expect(n?.leader.self, 'the Node holder keeps the lease while it renews').toBe(true);
      expect(w).toMatchObject({ action: 'following', holder: false, leader: 'pc-a' });
      await sleep(Math.max(0, HEARTBEAT_S * 1000 - (performance.now() - beatStarted)));
    }
    // (The loop itself runs more than 20 beats: no count to assert after it.)

    // kill -9 the Node holder: no release is written; the worker must see the ETag stand still for a lease, then take it.
    await pc.kill9();
    const killedAt = performance.now();
    const taken = await waitFor(
      'the worker takes the lease',
      async () => {
        const r = (await edge.call('leader-heartbeat')).body.result;
        return r.action === 'acquired' ? r : null;
      },
      (LEASE_S + 10) * 1000,
      HEARTBEAT_S * 1000,
    );
    const takeoverMs = performance.now() - killedAt;
    expect(taken).toMatchObject({ holder: true, leader: 'edge', epoch: 2, detail: 'stale' });
    // Not before the lease ran out (the killed holder's last renew was at most one heartbeat before the kill) …
    expect(takeoverMs).toBeGreaterThanOrEqual((LEASE_S - HEARTBEAT_S) * 1000);
    // … and within the lease plus two beats and generous slack for a loaded machine.
    expect(takeoverMs).toBeLessThan((LEASE_S + 2 * HEARTBEAT_S) * 1000 + 3_000);
    const lease = JSON.parse((await storeOf(bucket).get(LEASE_KEY)).body.toString('utf8'));
    expect(lease).toMatchObject({ host: 'edge', epoch: 2 });
    console.log(`[worker] takeover after kill -9: ${Math.round(takeoverMs)} ms (lease ${LEASE_S} s)`);
  }, 75_000);
});
