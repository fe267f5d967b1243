// test/collector.ws-book.test.ts
// transport: ws order book through the real ccxt pro against the emulator: a skipped diff is a resync, and the stored records rebuild the emulator's book.

import { afterEach, describe, expect, it } from 'vitest';
import { streamName } from '../runtime/collector/stream-state.ts';
import { rebuildBook, type BookRecord } from '../runtime/collector/ws/book.ts';
import { wsRunnerOf } from '../runtime/collector/ws/manager.ts';
import type { WsBookRunner } from '../runtime/collector/ws/orderbook.ts';
import { bookAt } from '../runtime/emulator/book.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { DEFAULT_SYMBOLS } from '../runtime/emulator/market.ts';
import { collectorHarness, until, type Harness } from './helpers/collector-harness.ts';

const NAME = streamName({ exchange: 'binance', topic: 'orderbook', symbol: 'BTC/USDT' });
const DEPTH = 50;


const numeric = (book: { bids: [string, string][]; asks: [string, string][] }) => ({
  bids: book.bids.map(([p, q]) => [Number(p), Number(q)]),
  asks: book.asks.map(([p, q]) => [Number(p), Number(q)]),
});

describe('ws order book against the emulator', () => {
  let emulator: Emulator | undefined;
  let harness: Harness | undefined;

  afterEach(async () => {
    await harness?.dispose();
    await emulator?.stop();
    harness = undefined;
    emulator = undefined;
  });

  it('the diff stream and REST /depth describe one book', async () => {
    emulator = await startEmulator({ port: 0, seed: 5 });
    const spec = emulator.model.specs[0]!;
    const rest = (await (await fetch(`${emulator.url}/api/v3/depth?symbol=BTCUSDT&limit=${DEPTH}`)).json()) as { lastUpdateId: number; bids: [string, string][]; asks: [string, string][] };
    const model = bookAt(emulator.model, spec, rest.lastUpdateId, DEPTH);
    expect({ bids: rest.bids, asks: rest.asks }).toEqual(model);
  });

  it('a skipped diff causes an audited resync; the stored records rebuild the emulator book', { timeout: 60_000 }, async () => {
    emulator = await startEmulator({ port: 0, seed: 13, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === 'BTC/USDT').map((s) => ({ ...s, tradesPerSecond: 20 })) });
    harness = await collectorHarness(emulator, {
      streams: [{ exchange: 'binance', topic: 'orderbook', symbols: ['BTC/USDT'], transport: 'ws', depth: DEPTH }],
      ws: { bookSnapshotSeconds: 1 },
    });
    const h = harness;
    const emu = emulator;
    const spec = emu.model.specs[0]!;
    const runner = () => wsRunnerOf(h.runtime.local, NAME) as WsBookRunner | undefined;
    await h.tick();
    await until('book synced and diffs applied', () => (runner()?.stats.messages ?? 0) >= 5 && runner()!.current() !== null);

    const before = runner()!.stats.resyncs;
    expect(emu.ws.skipDiff()).toBe(1);
    await until('resync after the skipped diff', () => runner()!.stats.resyncs > before && runner()!.current() !== null);
    const atResync = runner()!.stats.messages;
    await until('diffs applied after the resync', () => runner()!.stats.messages >= atResync + 5);
    const events = h.events('collector.orderbook.resync');
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(String(events[0]!.payload['reason'])).toMatch(/^sequence break/);

    // The book the runner holds is the emulator's book at that update id.
    const held = runner()!.current()!;
    expect({ bids: held.bids, asks: held.asks }).toEqual(numeric(bookAt(emu.model, spec, held.updateId, DEPTH)));

    // Stored: snapshots (sync, resync, periodic) and diffs; the newest snapshot + later diffs rebuild the book.
    await h.tick();
    const records = (await h.raw('orderbook')).map((r) => r.data as unknown as BookRecord);
    const reasons = new Set(records.flatMap((r) => (r.type === 'snapshot' ? [r.reason] : [])));
    expect(reasons.has('sync') && reasons.has('resync')).toBe(true);
    expect(records.filter((r) => r.type === 'diff').length).toBeGreaterThan(3);
    const rebuilt = rebuildBook(records, DEPTH)!;
    expect({ bids: rebuilt.bids, asks: rebuilt.asks }).toEqual(numeric(bookAt(emu.model, spec, rebuilt.updateId, DEPTH)));
    // Also a moment before the resync: records up to the last diff ahead of the resync snapshot.
    const resyncAt = records.findIndex((r) => r.type === 'snapshot' && r.reason === 'resync');
    const earlier = rebuildBook(records.slice(0, resyncAt), DEPTH)!;
    expect({ bids: earlier.bids, asks: earlier.asks }).toEqual(numeric(bookAt(emu.model, spec, earlier.updateId, DEPTH)));
    expect(h.row('orderbook').ws?.resyncs).toBeGreaterThanOrEqual(1);
  });
});
