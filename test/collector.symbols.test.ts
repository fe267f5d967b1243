// test/collector.symbols.test.ts
// A symbol the exchange no longer lists fails only its own streams (symbol_unavailable, audited); start runs; markets reload.

import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { collectorHarness, type Harness } from './helpers/collector-harness.ts';
import { spawnRuntime, type RuntimeProcess } from './helpers/runtime-process.ts';

const STREAMS = [
  { exchange: 'binance', topic: 'ticker', symbols: ['BTC/USDT', 'ETH/USDT'] },
  { exchange: 'binance', topic: 'trades', symbols: ['ETH/USDT'] },
];
/** Polls `done` until it holds (true) or the bound passes (false): waits for the event, not a fixed time. */
async function until(done: () => Promise<boolean>, boundMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return done();
}

const exchangeInfoCalls = async (e: Emulator) =>
  ((await (await fetch(`${e.url}/admin/state`)).json()) as { requests: Record<string, number> }).requests['exchangeInfo'] ?? 0;

describe('symbols missing from the markets', () => {
  let emulator: Emulator;
  let h: Harness | undefined;
  let proc: RuntimeProcess | undefined;
  beforeAll(async () => {
    emulator = await startEmulator({ port: 0, seed: 4 });
  });
  afterEach(async () => {
    emulator.faults.clear();
    await h?.dispose();
    h = undefined;
    await proc?.dispose();
    proc = undefined;
  });
  afterAll(async () => emulator?.stop());

  it('missing at start: its streams fail symbol_unavailable (audited once), the others collect; listed again, they recover', { timeout: 60_000 }, async () => {
    emulator.faults.set({ delist: ['ETH/USDT'] });
    h = await collectorHarness(emulator, { marketsReloadSeconds: 1, streams: STREAMS });
    const ethDown = () => h!.row('ticker', 'ETH/USDT').cause === 'symbol_unavailable' && h!.row('trades', 'ETH/USDT').cause === 'symbol_unavailable';
    expect(await h.tickUntil(() => h!.row('ticker').ok && ethDown())).toBe(true);
    for (const topic of ['ticker', 'trades']) {
      const row = h.row(topic, 'ETH/USDT');
      expect(row.ok).toBe(false);
      expect(row.notes.join('\n')).toMatch(/symbol_unavailable: exchange binance has no symbol ETH\/USDT/);
    }
    // A few more ticks: still one event per stream, not one per attempt.
    for (let i = 0; i < 3; i++) await h.tick();
    const down = h.events('collector.symbol.unavailable');
    expect(down.map((e) => `${e.payload['topic']} ${e.payload['symbol']}`).sort()).toEqual(['ticker ETH/USDT', 'trades ETH/USDT']);
    expect((await h.raw('ticker')).length).toBeGreaterThan(0);
    expect(await h.raw('ticker', 'ETH/USDT')).toEqual([]);

    // Listed again: the periodic reload finds it, the streams collect and the recovery is audited.
    const loadsBefore = await exchangeInfoCalls(emulator);
    emulator.faults.clear();
    expect(await h.tickUntil(() => h!.row('ticker', 'ETH/USDT').ok && h!.row('trades', 'ETH/USDT').ok)).toBe(true);
    expect(await exchangeInfoCalls(emulator)).toBeGreaterThan(loadsBefore);
    expect(h.events('collector.symbol.available')).toHaveLength(2);
  });

  it('delisted while running: the exchange\'s "invalid symbol" reloads the markets at once and the stream turns symbol_unavailable', { timeout: 60_000 }, async () => {
    h = await collectorHarness(emulator, { streams: STREAMS });
    expect(await h.tickUntil(() => ['BTC/USDT', 'ETH/USDT'].every((s) => h!.row('ticker', s).ok))).toBe(true);
    const loadsBefore = await exchangeInfoCalls(emulator);
    emulator.faults.set({ delist: ['ETHUSDT'] });
    expect(await h.tickUntil(() => h!.row('ticker', 'ETH/USDT').cause === 'symbol_unavailable')).toBe(true);
    // Reloaded although the periodic reload is an hour away. The reload runs beside the tick (not
    // awaited by it), so its request may reach the emulator just after the row turned: wait for it.
    expect(await until(async () => (await exchangeInfoCalls(emulator)) > loadsBefore)).toBe(true);
    expect(h.events('collector.symbol.unavailable').length).toBeGreaterThanOrEqual(1);
    await h.tick();
    expect(h.row('ticker').ok).toBe(true);
  });

  it('runtime start runs with a symbol the exchange does not list, warning about that stream only', { timeout: 150_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-start-missing-'));
    const file = path.join(dir, 'app.yaml');
    writeFileSync(file, `collector:\n  exchangeUrl: ${emulator.url}\n  streams:\n    - { exchange: binance, topic: ticker, symbols: [BTC/USDT, GONE/USDT] }\n`);
    proc = await spawnRuntime({ host: 'missing-symbol', args: ['--config', file], env: { BTC_TS_S3_ENDPOINT: '' } });
    const health = await proc.get<{ ok?: boolean }>('/health');
    expect(health).toBeTruthy();
    expect(proc.output()).toMatch(/collector\.streams\[0\]: exchange binance has no symbol GONE\/USDT: that stream fails with cause symbol_unavailable/);
    // Preflight only warns about the missing symbol: the PC goes PROD and collects the others.
    const running = proc;
    expect(await until(async () => (await running.get<{ mode: string }>('/health')).mode === 'PROD', 60_000), running.output().slice(-3000)).toBe(true);
    expect(proc.output()).not.toMatch(/config error/);
  });
});
