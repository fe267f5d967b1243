// runtime/heap.ts
// V8 heap settings the runtime applies to its own process: how far the old generation may grow past its live size before a full GC (at start, bin/runtime.mjs), and a cap on the young generation (runtime sync).

import { PerformanceObserver } from 'node:perf_hooks';
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
 * A node flag given on the command line (`node --heap-growing-percent=N …`) or in NODE_OPTIONS wins. Returns the
 * percent in force (null: V8's heuristic). Throws BtcError InvalidInput for any other value.
 */
export function applyHeapSettings(env: Record<string, string | undefined> = process.env, execArgv: string[] = nodeFlags(env)): number | null {
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

/**
 * Most young generation (V8's new space, both semi-spaces, MB) of the `runtime sync` process
 * (runtime/cli/sync.ts). V8 lets it grow to 32 MB on 64-bit; sync keeps dozens of requests in flight
 * whose objects survive a scavenge or two, so it got there within seconds, and all of it was
 * resident. Measured with `npm run bench -- sync` (docs/sync.md "Memory"): peak RSS 142–160 →
 * 117–118 MB with the young generation at 16 MB (and sync's reused read buffers), the same CPU.
 */
export const SYNC_NEW_SPACE_MB = 16;

/**
 * Keeps this process's young generation at or under `maxNewSpaceMb` (MB). It grows by doubling from
 * 1 MB; `--max-semi-space-size` is read only when the heap is made, but V8 reads
 * `--semi-space-growth-factor` at each growth, so GCs are watched (perf_hooks `gc` entries) and the
 * factor set to 1 once one more doubling would pass the cap. The entry arrives after the GC, so a
 * doubling may slip in first: the new space ends between half the cap and the cap. Plain
 * JavaScript, the same on Windows, no re-spawn. A semi-space flag given on the node command line
 * or in NODE_OPTIONS wins (nothing is done). Process-wide and for good: meant for a process that exists to do one
 * bulk job. Returns `stop` (stops watching) and whether a command-line flag took precedence.
 */
export function capYoungGeneration(maxNewSpaceMb: number, execArgv: string[] = nodeFlags()): { stop: () => void; commandLine: boolean } {
  if (execArgv.some((a) => /^--(max[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor)/.test(a))) return { stop: () => {}, commandLine: true };
  const limit = maxNewSpaceMb * 1024 * 1024;
  const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
  const observer = new PerformanceObserver(() => check());
  const check = () => {
    if (2 * newSpace() <= limit) return;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    observer.disconnect();
  };
  observer.observe({ entryTypes: ['gc'] });
  check();
  return { stop: () => observer.disconnect(), commandLine: false };
}

/** The node flags of this process: its command line's and NODE_OPTIONS' (which process.execArgv does not show). */
export function nodeFlags(env: Record<string, string | undefined> = process.env): string[] {
  return [...process.execArgv, ...(env['NODE_OPTIONS']?.split(/\s+/).filter(Boolean) ?? [])];
}
