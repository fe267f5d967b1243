// test/helpers/collector-harness.ts
// An in-process runtime (local store) collecting from an emulator as lease holder: tick, read rows, raw records and audit events.

import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime, type Runtime } from '../../runtime/context.ts';
import type { Emulator } from '../../runtime/emulator/server.ts';
import { silentLogger } from '../../runtime/logger.ts';
import type { StreamStatus } from '../../runtime/status.ts';
import { listKeys } from '../../runtime/store/types.ts';

export interface Harness {
  runtime: Runtime;
  /** One collect-tick. */
  tick(): Promise<unknown>;
  /** The status row of a stream after the last tick. */
  row(topic: string, symbol?: string): StreamStatus & { paused_until?: string };
  /** Raw records of a stream in the store (segments shipped so far), in key order. */
  raw(topic: string, symbol?: string): Promise<Array<{ ts: number; data: Record<string, unknown> }>>;
  /** Audit events recorded so far with this name. */
  events(name: string): Array<{ ts: number; payload: Record<string, unknown> }>;
  /** Ticks every `everyMs` until `done()` or the bound runs out; returns whether it happened. */
  tickUntil(done: () => boolean | Promise<boolean>, boundMs?: number, everyMs?: number): Promise<boolean>;
  dispose(): Promise<void>;
}

export async function collectorHarness(emulator: Emulator, collector: Record<string, unknown>, env: Record<string, string> = {}): Promise<Harness> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-harness-'));
  const loaded = loadConfig({
    env: {
      BTC_TS_HOST: 'harness',
      BTC_TS_MODE: 'PROD',
      BTC_TS_DATA_DIR: dataDir,
      BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
      BTC_TS_EXCHANGE_URL: emulator.url,
      ...env,
    },
    overrides: { collector: { tickSeconds: 1, streamTimeoutMs: 3_000, ...collector } },
  });
  const runtime = await createRuntime(loaded, { log: silentLogger() });
  // The lease duty is not part of these tests: this runtime holds epoch 1.
  Object.assign(runtime.lease, { holder: true, epoch: 1, leaderHost: 'harness', since: Date.now() });
  const tick = () => runtime.invoker.invoke('collect-tick', {}, 'cron');
  return {
    runtime,
    tick,
    row: (topic, symbol = 'BTC/USDT') => {
      const row = runtime.status.current().streams.find((r) => r.topic === topic && r.symbol === symbol);
      if (!row) throw new Error(`no status row for ${topic} ${symbol}`);
      return row;
    },
    raw: async (topic, symbol = 'BTC/USDT') => {
      const out: Array<{ ts: number; data: Record<string, unknown> }> = [];
      for (const key of (await listKeys(runtime.store, `raw/binance/${topic}/${symbol.replace('/', '-')}/`)).sort()) {
        for (const line of (await runtime.store.get(key)).body.toString('utf8').split('\n')) if (line) out.push(JSON.parse(line));
      }
      return out;
    },
    events: (name) => runtime.audit.recentEvents(200).filter((e) => e.event === name),
    tickUntil: async (done, boundMs = 20_000, everyMs = 250) => {
      const deadline = Date.now() + boundMs;
      while (Date.now() < deadline) {
        await tick();
        if (await done()) return true;
        await new Promise((r) => setTimeout(r, everyMs));
      }
      return false;
    },
    dispose: () => runtime.shutdown(),
  };
}

/** Polls `done` every `everyMs` until it holds; throws naming `what` after `boundMs` (a generous bound, not a timing claim). */
export async function until(what: string, done: () => boolean | Promise<boolean>, boundMs = 30_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** Ticks `h` in the background (a failed tick is retried at the next one) until `stop()`, which waits for the tick in progress. */
export function tickLoop(h: Harness, everyMs = 300): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      await h.tick().catch(() => undefined);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}
