// runtime/heap.ts
// V8 heap settings the runtime applies to its own process at start (bin/runtime.mjs): how far the old generation may grow past its live size before a full GC.

import v8 from 'node:v8';
import { BtcError } from './errors.ts';

/** Default of BTC_TS_HEAP_GROWING_PERCENT: the old generation grows to 1.25× its live size between full GCs. */
export const HEAP_GROWING_PERCENT_DEFAULT = 25;
const FLAG = '--heap-growing-percent';

/**
 * Sets V8's `--heap-growing-percent` for this process (v8.setFlagsFromString: plain JavaScript, so
 * the same on Windows; no shell or re-spawn). Why: a collector taking 20,000 messages/s allocates
 * fast, and V8's default lets the old generation grow up to ~4× its live size before the next full
 * GC (V8 heap/memory-controller: the growing factor rises to 4 while GC is cheap). Measured with
 * `npm run bench -- ws` at 20,000 messages/s for 60 s on an idle 2-core machine (docs/collector.md
 * "Memory"): peak RSS 332 MB at 50 %, 246 MB at 25 % (430–510 MB with V8's default in 20 s runs), for
 * a live heap near 100 MB; the cost is more frequent (incremental, concurrent) full GCs: 57 → 63 % of
 * one core.
 *
 * `env.BTC_TS_HEAP_GROWING_PERCENT`: an integer 1–400 (percent), `0` = leave V8's own heuristic.
 * A node flag given on the command line (`node --heap-growing-percent=N …`) wins. Returns the
 * percent in force (null: V8's heuristic). Throws BtcError InvalidInput for any other value.
 */
export function applyHeapSettings(env: Record<string, string | undefined> = process.env, execArgv: string[] = process.execArgv): number | null {
  const given = execArgv.find((a) => a.startsWith(FLAG) || a.startsWith('--heap_growing_percent'));
  if (given) return Number(given.split('=')[1] ?? NaN) || null;
  const text = env['BTC_TS_HEAP_GROWING_PERCENT']?.trim();
  const percent = text === undefined || text === '' ? HEAP_GROWING_PERCENT_DEFAULT : Number(text);
  if (!Number.isInteger(percent) || percent < 0 || percent > 400) {
    throw new BtcError('InvalidInput', `BTC_TS_HEAP_GROWING_PERCENT must be an integer 0–400 (0 = V8's default heuristic), got ${JSON.stringify(text)}`);
  }
  if (percent === 0) return null;
  v8.setFlagsFromString(`${FLAG}=${percent}`);
  return percent;
}
