// test/collector.ws.test.ts
// transport: ws trades through the real ccxt pro against the emulator's WebSocket: gap- and repeat-free across drop, silence, duplicates; stops on step-down.

import { afterEach, describe, expect, it } from 'vitest';
import { setLeaseView } from '../runtime/lease.ts';
import { streamName, streamStates } from '../runtime/collector/stream-state.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { DEFAULT_SYMBOLS } from '../runtime/emulator/market.ts';
import { collectorHarness, tickLoop, until, type Harness } from './helpers/collector-harness.ts';

const NAME = streamName({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' });


describe('ws trades against the emulator', () => {
  let emulator: Emulator | undefined;
  let harness: Harness | undefined;
  let ticking: { stop(): Promise<void> } | undefined;

  afterEach(async () => {
    await ticking?.stop();
    ticking = undefined;
    await harness?.dispose();
    await emulator?.stop();
    harness = undefined;
    emulator = undefined;
  });

  const startTicking = (h: Harness) => {
    ticking = tickLoop(h);
  };

  it('stores every trade id once across a dropped socket, a silent socket and duplicated messages', { timeout: 90_000 }, async () => {
    emulator = await startEmulator({ port: 0, seed: 11, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === 'BTC/USDT').map((s) => ({ ...s, tradesPerSecond: 40 })) });
    harness = await collectorHarness(emulator, {
      streams: [{ exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT'], transport: 'ws' }],
      ws: { silentSeconds: 1.5, backoffMaxSeconds: 2 },
    });
    const h = harness;
    const emu = emulator;
    const state = () => streamStates(h.runtime.local).get(NAME);
    const ws = () => h.row('trades').ws;
    startTicking(h);

    await until('first ws trades appended', () => (state()?.cursor?.last_id ?? null) !== null && (ws()?.connected ?? false));
    expect(emu.ws.subscriptions()).toEqual(['btcusdt@aggTrade']);
    const firstStored = await (async () => {
      await until('first segment shipped', async () => (await h.raw('trades')).length > 0);
      return Number((await h.raw('trades'))[0]!.data['id']);
    })();

    // 1. The connection drops: reconnect, back-fill what was traded meanwhile over REST.
    emu.ws.drop();
    await until('reconnected after the drop', () => (ws()?.reconnects ?? 0) >= 1 && ws()!.connected);
    // 2. The socket goes silent (open, answering pings, no data): detected after 1.5 s, reconnected.
    emu.ws.silence();
    await until('reconnected after silence', () => (ws()?.reconnects ?? 0) >= 2 && ws()!.connected, 20_000);
    // 3. Duplicated messages are stored once.
    emu.ws.setFaults({ duplicate: { ratio: 0.5 } });
    await until('duplicates seen', () => (state() !== undefined && (h.runtime.status.current().streams[0]?.ws as { duplicates?: number } | undefined)?.duplicates) ? true : false, 20_000);
    emu.ws.setFaults({});

    const lastId = emu.lastTradeId('BTC/USDT');
    await until('caught up with the emulator', () => (state()?.cursor?.last_id ?? 0) >= lastId);
    await until('shipped up to there', async () => (await h.raw('trades')).some((r) => Number(r.data['id']) >= lastId));

    const raw = (await h.raw('trades')) as unknown as Array<{ seq: number; epoch: number; data: { id: string; price: number; amount: number; side: string } }>;
    const counts = new Map<number, number>();
    for (const r of raw) counts.set(Number(r.data.id), (counts.get(Number(r.data.id)) ?? 0) + 1);
    const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    const missing: number[] = [];
    for (let id = firstStored; id <= lastId; id++) if (!counts.has(id)) missing.push(id);
    expect(repeated).toEqual([]);
    expect(missing.slice(0, 20)).toEqual([]);
    expect(raw.map((r) => r.seq)).toEqual(raw.map((_, i) => i));
    expect(new Set(raw.map((r) => r.epoch))).toEqual(new Set([1]));
    // Records equal the emulator's market (the REST collector's record shape).
    const sample = raw[Math.floor(raw.length / 2)]!;
    const expected = emu.model.aggTrade(emu.model.specs[0]!, Number(sample.data.id));
    expect(sample.data.price).toBe(Number(expected.p));
    expect(sample.data.amount).toBe(Number(expected.q));
    expect(sample.data.side).toBe(expected.m ? 'sell' : 'buy');

    // The holes left by the drop and the silence were filled over REST, audited.
    const backfills = h.events('collector.ws.backfill');
    expect(backfills.length).toBeGreaterThanOrEqual(2);
    expect(h.events('collector.ws.reconnect').length).toBeGreaterThanOrEqual(2);
    expect(emu.ws.counters.duplicated).toBeGreaterThan(0);
    const row = h.row('trades');
    expect(row.ok).toBe(true);
    expect(row.ws?.lag_p99_ms).toBeTypeOf('number');
  });

  it('stops on step-down at once and starts again on the next epoch', { timeout: 60_000 }, async () => {
    emulator = await startEmulator({ port: 0, seed: 12, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === 'BTC/USDT').map((s) => ({ ...s, tradesPerSecond: 40 })) });
    harness = await collectorHarness(emulator, { streams: [{ exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT'], transport: 'ws' }] });
    const h = harness;
    const emu = emulator;
    const state = () => streamStates(h.runtime.local).get(NAME);
    await h.tick();
    await until('connected', () => emu.ws.counters.open === 1 && (state()?.cursor?.last_id ?? null) !== null);

    // Step-down: no tick involved, the lease change alone stops the stream.
    setLeaseView(h.runtime.lease, { holder: false, leaderHost: 'other' });
    const stoppedAt = state()!.cursor!.last_id!;
    await until('socket closed', () => emu.ws.counters.open === 0, 10_000);
    const lastAfterStop = state()!.cursor!.last_id!;
    // At most the one append already under way when the lease went.
    await new Promise((r) => setTimeout(r, 500));
    expect(state()!.cursor!.last_id).toBe(lastAfterStop);
    expect(lastAfterStop - stoppedAt).toBeLessThan(40);

    // A new epoch: started by the lease change, the hole back-filled over REST, records stamped with epoch 2.
    setLeaseView(h.runtime.lease, { holder: true, epoch: 2, leaderHost: 'harness' });
    await until('reconnected at epoch 2', () => emu.ws.counters.open === 1);
    const target = emu.lastTradeId('BTC/USDT');
    await until('caught up at epoch 2', () => (state()?.cursor?.last_id ?? 0) >= target);
    await h.tick();
    const raw = (await h.raw('trades')) as unknown as Array<{ epoch: number; data: { id: string } }>;
    const ids = raw.map((r) => Number(r.data.id)).sort((a, b) => a - b);
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) if (ids[i] !== ids[i - 1]! + 1) throw new Error(`hole or disorder at ${ids[i - 1]} → ${ids[i]}`);
    expect(raw.some((r) => r.epoch === 2)).toBe(true);
    expect(h.events('collector.ws.backfill').length).toBeGreaterThanOrEqual(1);
  });
});
