// test/e2e/collector-ws-failover.test.ts
// transport: ws trades on two real runtimes into MinIO; kill -9 the holder: the new holder's socket back-fills over REST, every id once.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_SYMBOLS } from '../../runtime/emulator/market.ts';
import { cursorLastId, e2eCluster, healthJson, idGaps, storedTradeIds, type E2eCluster } from '../helpers/e2e-cluster.ts';
import { waitFor } from '../helpers/lease-probe.ts';
import type { RuntimeProcess } from '../helpers/runtime-process.ts';

const SYMBOL = 'BTC/USDT';
const PREFIX = 'raw/binance/trades/BTC-USDT/';
const CURSOR = 'collector/cursors/binance/trades/BTC-USDT.json';

interface Health {
  leader: { host: string | null; epoch: number; self: boolean };
}

const healthOf = (rt: RuntimeProcess) => healthJson<Health>(rt);

describe('ws trades failover (two runtimes, kill -9 of the holder)', () => {
  const minio = inject('minio');
  let cluster: E2eCluster;

  beforeAll(async () => {
    cluster = await e2eCluster({
      minio,
      name: 'collector-ws-failover',
      hosts: ['pc-a', 'pc-b'],
      config: `collector:\n  streams:\n    - { exchange: binance, topic: trades, symbols: [${SYMBOL}], transport: ws }\n    - { exchange: binance, topic: ticker, symbols: [${SYMBOL}] }\n`,
      emulator: { seed: 11, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === SYMBOL).map((s) => ({ ...s, tradesPerSecond: 30 })) },
      timings: { leaseSeconds: 3, heartbeatSeconds: 0.5, tickSeconds: 1 },
      env: { BTC_TS_PREFERRED_LEADER: 'pc-a' },
    });
  }, 90_000);

  afterAll(async () => {
    await cluster?.dispose();
  });

  it('the new holder streams on from the stored cursor, the hole back-filled: every id once across both epochs', { timeout: 150_000 }, async () => {
    const { emulator, runtimes } = cluster;
    const [a, b] = runtimes as [RuntimeProcess, RuntimeProcess];
    const store = cluster.store();
    const firstId = emulator.lastTradeId(SYMBOL);
    const holder = await waitFor('a holder that collects', async () => {
      for (const rt of [a, b]) {
        const h = await healthOf(rt);
        if (h?.leader.self && (await store.getOrNull(CURSOR))) return { rt, epoch: h.leader.epoch };
      }
      return null;
    }, 60_000, 100); // preflight, lease and first tick on a loaded 2-core machine
    const standby = holder.rt === a ? b : a;
    await waitFor('the holder streaming over ws', async () => emulator.ws.counters.open === 1 && emulator.ws.subscriptions().includes('btcusdt@aggTrade'), 30_000, 100);
    // The holder collects for a while: its cursor passes a second of trades produced after its socket opened.
    const streamedTo = emulator.lastTradeId(SYMBOL, Date.now() + 1_000);
    await waitFor('the holder to store a second of streamed trades', async () => ((await cursorLastId(store, CURSOR)) ?? 0) >= streamedTo, 30_000, 100);

    await holder.rt.kill9();
    const taken = await waitFor(`${standby.host} to take over`, async () => {
      const h = await healthOf(standby);
      return h?.leader.self && h.leader.epoch > holder.epoch ? h : null;
    }, 30_000, 100);
    await waitFor('the new holder streaming over ws', async () => emulator.ws.counters.open === 1 && emulator.ws.counters.connections >= 2, 30_000, 100);
    // The new holder runs for a while: past the hole (back-filled over REST) and a second of trades
    // produced after its socket opened.
    const lastId = emulator.lastTradeId(SYMBOL, Date.now() + 1_000);
    await waitFor('the new holder to pass the last id', async () => ((await cursorLastId(store, CURSOR)) ?? 0) >= lastId, 30_000, 100);

    const { counts, epochs } = await storedTradeIds(store, PREFIX);
    const { missing, repeated } = idGaps(counts, firstId, lastId);
    expect(missing.slice(0, 20), `missing of ${lastId - firstId + 1}`).toEqual([]);
    expect(repeated.slice(0, 20)).toEqual([]);
    // Both holders' epochs are in the data (a start-up handover may add an earlier one).
    expect(epochs.has(holder.epoch) && epochs.has(taken.leader.epoch), [...epochs].join(',')).toBe(true);
  });
});
