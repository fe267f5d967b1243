// runtime/collector/demo.ts
// `runtime start --demo`: the bundled emulator in-process and demo streams for all four topics, on the configured storage.

import { startEmulator, type Emulator } from '../emulator/server.ts';

export const DEMO_SYMBOLS = ['BTC/USDT', 'ETH/USDT'];
/** Short tick so the dashboard fills within seconds. */
export const DEMO_TICK_SECONDS = 2;
export const DEMO_HEARTBEAT_SECONDS = 1;
export const DEMO_LEASE_SECONDS = 5;

/** Starts the emulator and returns the config overrides that point the collector at it. */
export async function startDemo(env: NodeJS.ProcessEnv = process.env): Promise<{ emulator: Emulator; overrides: Record<string, unknown> }> {
  const emulator = await startEmulator({ port: 0 });
  // Storage stays as configured: the embedded default out of the box, the NAS when BTC_TS_S3_* is set.
  // Lease timings: beat often so the lease is taken within a second of preflight passing, and a
  // lease left by a killed demo goes stale in seconds — unless the environment sets them.
  const timingsFromEnv = env.BTC_TS_LEASE_SECONDS !== undefined || env.BTC_TS_HEARTBEAT_SECONDS !== undefined;
  const overrides = {
    ...(timingsFromEnv ? {} : { lease: { heartbeatSeconds: DEMO_HEARTBEAT_SECONDS, leaseSeconds: DEMO_LEASE_SECONDS } }),
    collector: {
      exchangeUrl: emulator.url,
      tickSeconds: DEMO_TICK_SECONDS,
      streams: [
        { exchange: 'binance', topic: 'ticker', symbols: DEMO_SYMBOLS },
        { exchange: 'binance', topic: 'trades', symbols: DEMO_SYMBOLS },
        { exchange: 'binance', topic: 'orderbook', symbols: DEMO_SYMBOLS, depth: 10 },
        { exchange: 'binance', topic: 'ohlcv', symbols: DEMO_SYMBOLS, timeframe: '1m' },
      ],
    },
  };
  return { emulator, overrides };
}
