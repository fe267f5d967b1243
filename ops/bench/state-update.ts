// ops/bench/state-update.ts
// Benchmark: one state-update over many fills on the embedded FsStore (full first apply, then an incremental day).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { runsPrefix } from '../../runtime/keys.ts';

/** args: [files=10] [fillsPerFile=10000] [newFills=1000] */
export default async function bench(args: string[]): Promise<object> {
  const [files = 10, perFile = 10_000, newFills = 1_000] = args.map(Number);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-state-'));
  try {
    const loaded = loadConfig({
      env: { BTC_TS_HOST: 'bench', BTC_TS_DATA_DIR: path.join(dir, 'data'), BTC_TS_LOGS_DIR: path.join(dir, 'logs') },
      overrides: { strategies: { bench: { model: { pipSize: 0.01, evPrior: { wins: 1, losses: 1 }, slippageAlpha: 0.2 }, symbol: 'BTC/USDT', mode: 'live' } } },
    });
    const runtime = await createRuntime(loaded, { log: silentLogger() });
    const start = Date.UTC(2026, 0, 1);
    let ts = start;
    const runs = runsPrefix({ strategy: 'bench', symbol: 'BTC-USDT', mode: 'live' });
    const line = (i: number) =>
      JSON.stringify({ ts: (ts += 1000), side: i % 2 ? 'buy' : 'sell', qty: 0.1, price: 100 + (i % 7) * 0.01, expected_price: 100, pnl_pips: (i % 5) - 2, gate_bucket: `b${i % 8}` });
    for (let f = 0; f < files; f++) {
      await runtime.store.put(`${runs}f${String(f).padStart(4, '0')}.jsonl`, Array.from({ length: perFile }, (_, i) => line(i)).join('\n') + '\n');
    }
    const timed = async () => {
      const t0 = performance.now();
      const r = (await runtime.invoker.invoke('state-update', { simulate_live: true })) as { decision: { status: string }; evidence: { fills_new: number } };
      return { ms: Math.round(performance.now() - t0), status: r.decision.status, fills_new: r.evidence.fills_new };
    };
    const first = await timed();
    await runtime.store.put(`${runs}zz-new.jsonl`, Array.from({ length: newFills }, (_, i) => line(i)).join('\n') + '\n');
    const incremental = await timed();
    await runtime.shutdown();
    return { fills_total: files * perFile + newFills, first_apply: first, incremental_update: incremental };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
