// test/streams-ship.test.ts
// One stream whose segments cannot be uploaded does not stop the others: it is reported with its cause, kept locally, and shipped once it can be.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../runtime/clock.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { listAll } from '../runtime/store/types.ts';
import { RawStreams, type StreamReport } from '../runtime/streams.ts';

const BTC = { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' };
const ETH = { exchange: 'binance', topic: 'trades', symbol: 'ETH/USDT' };
const SOL = { exchange: 'binance', topic: 'ticker', symbol: 'SOL/USDT' };

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function keys(store: ReturnType<typeof createFsStore>, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listAll(store, prefix)) out.push(o.key);
  return out;
}

describe('RawStreams.ship: each stream on its own', () => {
  it('a stream whose key cannot be written is reported with its cause; the others ship; it ships once it can', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-ship-'));
    dirs.push(dir);
    const root = path.join(dir, 'nas');
    const store = createFsStore({ root });
    const reports: StreamReport[] = [];
    const clock = manualClock(Date.UTC(2026, 10, 29, 12));
    const streams = new RawStreams({ walDir: path.join(dir, 'wal'), clock, onReport: (r) => void reports.push(r) });
    for (const id of [BTC, ETH, SOL]) await streams.append(id, 1, [0, 1, 2].map((i) => ({ ts: clock.now() + i, data: { i } })));

    // ETH's folder in the store is a file: every upload of its segments fails (ENOTDIR), the way a
    // store that refuses one key would. It is the middle stream, so a throw would stop SOL too.
    mkdirSync(path.join(root, 'raw', 'binance', 'trades'), { recursive: true });
    writeFileSync(path.join(root, 'raw', 'binance', 'trades', 'ETH-USDT'), 'in the way');

    const outcomes = await streams.ship(store);
    expect(outcomes.map((o) => o.key.split('/').slice(1, 4).join('/')).sort()).toEqual(['binance/ticker/SOL-USDT', 'binance/trades/BTC-USDT']);
    expect(await keys(store, 'raw/binance/ticker/SOL-USDT/')).toHaveLength(1);
    expect(await keys(store, 'raw/binance/trades/BTC-USDT/')).toHaveLength(1);
    expect(streams.shipFailed(ETH)).toBe(true);
    expect(streams.shipFailed(BTC) || streams.shipFailed(SOL)).toBe(false);
    const failed = reports.filter((r) => r.kind === 'ship_failed');
    expect(failed).toEqual([expect.objectContaining({ kind: 'ship_failed', stream: ETH, epoch: 1, cause: expect.any(String), error: expect.any(String) })]);
    expect((failed[0] as Extract<StreamReport, { kind: 'ship_failed' }>).cause).not.toBe('');

    // The way is cleared: the next ship uploads ETH's segment, with every record kept.
    rmSync(path.join(root, 'raw', 'binance', 'trades', 'ETH-USDT'));
    const later = await streams.ship(store);
    expect(later.map((o) => o.result)).toEqual(['uploaded']);
    expect(streams.shipFailed(ETH)).toBe(false);
    const [ethKey] = await keys(store, 'raw/binance/trades/ETH-USDT/');
    const lines = (await store.get(ethKey!)).body.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number });
    expect(lines.map((l) => l.seq)).toEqual([0, 1, 2]);
  });
});
