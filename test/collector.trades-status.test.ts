// test/collector.trades-status.test.ts
// Through collect-tick into MinIO: a suspected gap turns the stream not ok with its audit event; aggregate fills and conflicts reach the primary and the audit.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bootstrapBucket } from '../infra/minio/bootstrap.ts';
import { exchangePoolOf } from '../runtime/collector/plan.ts';
import { streamStates } from '../runtime/collector/stream-state.ts';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime, type Runtime } from '../runtime/context.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { DEFAULT_SYMBOLS } from '../runtime/emulator/market.ts';
import { silentLogger } from '../runtime/logger.ts';
import { listKeys } from '../runtime/store/types.ts';

describe('trades streams through collect-tick', () => {
  let emulator: Emulator;
  let runtime: Runtime;
  let dataDir: string;
  let loadedConfig: ReturnType<typeof loadConfig>['config'];
  let clockMs = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

  beforeAll(async () => {
    const minio = inject('minio');
    const bucket = `trades-status-${Date.now().toString(36)}`;
    await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
    emulator = await startEmulator({
      seed: 9,
      symbols: [{ ...DEFAULT_SYMBOLS[1]!, tradesPerSecond: 5, maxFills: 3 }],
      now: () => clockMs,
    });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-trades-status-'));
    const loaded = loadConfig({
      env: {
        BTC_TS_HOST: 'collector-a',
        BTC_TS_MODE: 'PROD',
        BTC_TS_DATA_DIR: dataDir,
        BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
        BTC_TS_S3_ENDPOINT: minio.endpoint,
        BTC_TS_S3_BUCKET: bucket,
        BTC_TS_S3_ACCESS_KEY: minio.accessKey,
        BTC_TS_S3_SECRET_KEY: minio.secretKey,
        BTC_TS_EXCHANGE_URL: emulator.url,
      },
      overrides: {
        collector: {
          tickSeconds: 1,
          streamTimeoutMs: 10_000,
          streams: [
            { exchange: 'okx', topic: 'trades', symbols: ['ETH/USDT'] },
            { exchange: 'binance', topic: 'trades', symbols: ['ETH/USDT'] },
          ],
        },
      },
    });
    loadedConfig = loaded.config;
    runtime = await createRuntime(loaded, { log: silentLogger() });
    Object.assign(runtime.lease, { holder: true, epoch: 4, leaderHost: 'collector-a', since: Date.now() });
  });

  afterAll(async () => {
    await runtime?.shutdown();
    await emulator?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const tick = async () => {
    // The emulator's clock is frozen: each tick is due at once.
    for (const s of streamStates(runtime.local).values()) s.nextDueMonotonicMs = 0;
    await runtime.invoker.invoke('collect-tick', {}, 'cron');
    return runtime.status.current().streams;
  };
  const row = (rows: Awaited<ReturnType<typeof tick>>, exchange: string) => rows.find((r) => r.exchange === exchange)!;

  it('a recent-only page that no longer reaches the cursor is not ok (gap_suspected) until a clean fetch; fills and conflicts reach MinIO and the audit', { timeout: 60_000 }, async () => {
    for (const id of ['okx', 'binance']) exchangePoolOf(runtime.local, loadedConfig).instance(id).enableRateLimit = false;
    let rows = await tick();
    expect(row(rows, 'okx')).toMatchObject({ ok: true, cause: null });
    expect(row(rows, 'binance')).toMatchObject({ ok: true, cause: null });

    emulator.faults.set({ duplicateAggId: { ratio: 0.1 }, endpoints: ['aggTrades'] });
    clockMs += 200_000; // 1,000 trades: more than OKX's 500-trade answer
    rows = await tick();
    expect(row(rows, 'okx')).toMatchObject({ ok: false, cause: 'gap_suspected', retries: 0 });
    expect(row(rows, 'okx').notes.some((n) => n.startsWith('suspected gap'))).toBe(true);
    const events = runtime.audit.recentEvents(500);
    const suspected = events.filter((e) => e.event === 'collector.gap.suspected');
    expect(suspected).toHaveLength(1);
    expect(suspected[0]!.payload).toMatchObject({ exchange: 'okx', symbol: 'ETH/USDT', topic: 'trades', epoch: 4, paging: 'recent' });
    expect(Number(suspected[0]!.payload['to_ts']) - Number(suspected[0]!.payload['from_ts'])).toBeGreaterThan(90_000);
    expect(events.filter((e) => e.event === 'collector.trade.conflict' && e.payload['kind'] === 'aggregate_id_repeated').length).toBeGreaterThan(10);

    clockMs += 10_000;
    rows = await tick();
    expect(row(rows, 'okx')).toMatchObject({ ok: true, cause: null });
    expect(row(rows, 'okx').notes.some((n) => n.startsWith('suspected gap'))).toBe(true); // kept as a sticky note

    const keys = await listKeys(runtime.store.primary, 'raw/binance/trades/ETH-USDT/');
    const records = [];
    for (const key of keys) for (const line of (await runtime.store.primary.get(key)).body.toString().split('\n')) if (line) records.push(JSON.parse(line));
    expect(records.length).toBeGreaterThan(1000);
    expect(records.every((r) => Number.isSafeInteger(r.data.first_trade_id) && r.data.last_trade_id >= r.data.first_trade_id)).toBe(true);
    const perId = new Map<string, number>();
    for (const r of records) perId.set(r.data.id, (perId.get(r.data.id) ?? 0) + 1);
    expect([...perId.values()].some((n) => n === 2)).toBe(true); // a repeated aggregate id kept as its own record
  });
});
