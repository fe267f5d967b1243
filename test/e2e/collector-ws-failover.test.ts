// test/e2e/collector-ws-failover.test.ts
// transport: ws trades on two real runtimes into MinIO; kill -9 the holder: the new holder's socket back-fills over REST, every id once.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';
import { startEmulator, type Emulator } from '../../runtime/emulator/server.ts';
import { DEFAULT_SYMBOLS } from '../../runtime/emulator/market.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listKeys } from '../../runtime/store/types.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

const SYMBOL = 'BTC/USDT';
const PREFIX = 'raw/binance/trades/BTC-USDT/';
const CURSOR = 'collector/cursors/binance/trades/BTC-USDT.json';

interface Health {
  leader: { host: string | null; epoch: number; self: boolean };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const healthOf = (rt: RuntimeProcess) =>
  fetch(`${rt.url}/health`, { signal: AbortSignal.timeout(2_000) })
    .then((r) => r.json() as Promise<Health>)
    .catch(() => null);

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('ws trades failover (two runtimes, kill -9 of the holder)', () => {
  const minio = inject('minio');
  let bucket: string;
  let emulator: Emulator;
  let a: RuntimeProcess;
  let b: RuntimeProcess;
  const store = () => createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });

  beforeAll(async () => {
    bucket = `collector-ws-failover-${randomBytes(4).toString('hex')}`;
    await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
    emulator = await startEmulator({ port: 0, seed: 11, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === SYMBOL).map((s) => ({ ...s, tradesPerSecond: 30 })) });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-ws-failover-'));
    const config = path.join(dir, 'app.yaml');
    writeFileSync(config, `collector:\n  streams:\n    - { exchange: binance, topic: trades, symbols: [${SYMBOL}], transport: ws }\n    - { exchange: binance, topic: ticker, symbols: [${SYMBOL}] }\n`);
    const env = {
      BTC_TS_CONFIG: config,
      BTC_TS_S3_ENDPOINT: minio.endpoint,
      BTC_TS_S3_BUCKET: bucket,
      BTC_TS_S3_ACCESS_KEY: minio.accessKey,
      BTC_TS_S3_SECRET_KEY: minio.secretKey,
      BTC_TS_EXCHANGE_URL: emulator.url,
      BTC_TS_LEASE_SECONDS: '3',
      BTC_TS_HEARTBEAT_SECONDS: '0.5',
      BTC_TS_TICK_SECONDS: '1',
      BTC_TS_PREFERRED_LEADER: 'pc-a',
    };
    // One after the other: two cold starts at once on a loaded 2-core machine can miss the
    // helper's ready timeout, and a started one is then still disposed in afterAll.
    a = await spawnRuntime({ host: 'pc-a', env });
    b = await spawnRuntime({ host: 'pc-b', env });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.dispose(), b?.dispose()]);
    await emulator?.stop();
  });

  it('the new holder streams on from the stored cursor, the hole back-filled: every id once across both epochs', { timeout: 150_000 }, async () => {
    const firstId = emulator.lastTradeId(SYMBOL);
    const holder = await waitFor('a holder that collects', async () => {
      for (const rt of [a, b]) {
        const h = await healthOf(rt);
        if (h?.leader.self && (await store().getOrNull(CURSOR))) return { rt, epoch: h.leader.epoch };
      }
      return null;
    }, 60_000); // preflight, lease and first tick on a loaded 2-core machine
    const standby = holder.rt === a ? b : a;
    await waitFor('the holder streaming over ws', async () => emulator.ws.counters.open === 1 && emulator.ws.subscriptions().includes('btcusdt@aggTrade'), 30_000);
    await sleep(4_000); // collect for a while

    await holder.rt.kill9();
    const taken = await waitFor(`${standby.host} to take over`, async () => {
      const h = await healthOf(standby);
      return h?.leader.self && h.leader.epoch > holder.epoch ? h : null;
    }, 30_000);
    await waitFor('the new holder streaming over ws', async () => emulator.ws.counters.open === 1 && emulator.ws.counters.connections >= 2, 30_000);
    await sleep(3_000); // the new holder runs for a while
    const lastId = emulator.lastTradeId(SYMBOL);
    await waitFor('the new holder to pass the last id', async () => {
      const cursor = await store().getOrNull(CURSOR);
      return cursor && (JSON.parse(cursor.body.toString()) as { last_id: number }).last_id >= lastId;
    }, 30_000);

    const counts = new Map<number, number>();
    const epochs = new Set<number>();
    for (const key of await listKeys(store(), PREFIX)) {
      for (const line of (await store().get(key)).body.toString().split('\n')) {
        if (!line) continue;
        const record = JSON.parse(line) as { epoch: number; data: { id: string } };
        epochs.add(record.epoch);
        counts.set(Number(record.data.id), (counts.get(Number(record.data.id)) ?? 0) + 1);
      }
    }
    const missing: number[] = [];
    for (let id = firstId; id <= lastId; id++) if (!counts.has(id)) missing.push(id);
    const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    expect(missing.slice(0, 20), `missing of ${lastId - firstId + 1}`).toEqual([]);
    expect(repeated.slice(0, 20)).toEqual([]);
    // Both holders' epochs are in the data (a start-up handover may add an earlier one).
    expect(epochs.has(holder.epoch) && epochs.has(taken.leader.epoch), [...epochs].join(',')).toBe(true);
  });
});
