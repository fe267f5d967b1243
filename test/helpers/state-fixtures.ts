// test/helpers/state-fixtures.ts
// Builds in-process runtimes with a configured strategy and writes fills for the state-update tests.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StrategyConfig } from '../../config/schema.ts';
import { manualClock } from '../../runtime/clock.ts';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime, type Runtime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';

export const STRATEGY: StrategyConfig = {
  model: { pipSize: 0.01, evPrior: { wins: 1, losses: 1 }, slippageAlpha: 0.2 },
  symbol: 'BTC/USDT',
  mode: 'conservative',
};

export interface FillInput {
  ts: number;
  side?: 'buy' | 'sell';
  qty?: number;
  price?: number;
  expected_price?: number;
  pnl_pips: number;
  gate_bucket?: string;
}

/** A fill line with sensible defaults (buy 1 @ 100.01 vs 100.00 → 1 pip of slippage). */
export function fill(f: FillInput): Record<string, unknown> {
  return { side: 'buy', qty: 1, price: 100.01, expected_price: 100, gate_bucket: 'open', ...f };
}

export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

export interface TestRuntime {
  runtime: Runtime;
  clock: ReturnType<typeof manualClock>;
  dir: string;
  logsDir: string;
  update(input?: Record<string, unknown>): Promise<any>;
  dispose(): Promise<void>;
}

export interface MakeRuntimeOptions {
  /** Shared primary (two runtimes on one NAS); a fresh FsStore otherwise. */
  primary?: ObjectStore;
  strategies?: Record<string, StrategyConfig>;
  env?: Record<string, string>;
  host?: string;
}

export async function makeRuntime(options: MakeRuntimeOptions = {}): Promise<TestRuntime> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-state-'));
  const logsDir = path.join(dir, 'logs');
  const loaded = loadConfig({
    env: { BTC_TS_HOST: options.host ?? 'pc1', BTC_TS_DATA_DIR: path.join(dir, 'data'), BTC_TS_LOGS_DIR: logsDir, ...options.env },
    overrides: { strategies: options.strategies ?? { day_orb: STRATEGY } },
  });
  const clock = manualClock(T0 + 86_400_000);
  const runtime = await createRuntime(loaded, {
    log: silentLogger(),
    clock,
    primary: options.primary ?? createFsStore({ root: path.join(dir, 'nas') }),
    cache: createFsStore({ root: path.join(dir, 'cache') }),
  });
  return {
    runtime,
    clock,
    dir,
    logsDir,
    update: (input = {}) => runtime.invoker.invoke('state-update', { simulate_live: true, ...input }, 'internal'),
    async dispose() {
      await runtime.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes fills as one JSONL object under runs/<strategy>/<symbol>/<mode>/. */
export async function putFills(store: ObjectStore, name: string, fills: Array<Record<string, unknown>>, prefix = 'runs/day_orb/BTC-USDT/conservative/'): Promise<string> {
  const key = `${prefix}${name}`;
  await store.put(key, fills.map((f) => JSON.stringify(f)).join('\n') + '\n');
  return key;
}

/** n winning and losing fills a minute apart from `start`, alternating +win / −loss pips. */
export function series(start: number, n: number, win = 10, loss = 5, extra: Partial<FillInput> = {}): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => fill({ ts: start + i * 60_000, pnl_pips: i % 2 === 0 ? win : -loss, ...extra }));
}
