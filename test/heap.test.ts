// test/heap.test.ts
// BTC_TS_HEAP_GROWING_PERCENT: the runtime's own V8 heap growth setting (runtime/heap.ts) — default, off, a node flag winning, bad values refused; and the young-generation cap of `runtime sync`.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { applyHeapSettings, capYoungGeneration, HEAP_GROWING_PERCENT_DEFAULT, SYNC_NEW_SPACE_MB } from '../runtime/heap.ts';
import { isBtcError } from '../runtime/errors.ts';

describe('applyHeapSettings', () => {
  it('applies the default, a chosen percent, or leaves V8 alone at 0', () => {
    expect(applyHeapSettings({}, [])).toBe(HEAP_GROWING_PERCENT_DEFAULT);
    expect(applyHeapSettings({ BTC_TS_HEAP_GROWING_PERCENT: ' 50 ' }, [])).toBe(50);
    expect(applyHeapSettings({ BTC_TS_HEAP_GROWING_PERCENT: '0' }, [])).toBeNull();
  });

  it('lets a node flag on the command line win over the environment', () => {
    expect(applyHeapSettings({ BTC_TS_HEAP_GROWING_PERCENT: '50' }, ['--heap-growing-percent=80'])).toBe(80);
  });

  it('refuses anything but an integer 0–400, naming the variable', () => {
    for (const bad of ['abc', '-1', '401', '12.5', '1e9']) {
      let caught: unknown;
      try {
        applyHeapSettings({ BTC_TS_HEAP_GROWING_PERCENT: bad }, []);
      } catch (err) {
        caught = err;
      }
      expect(isBtcError(caught) && caught.code === 'InvalidInput' && caught.message.includes('BTC_TS_HEAP_GROWING_PERCENT')).toBe(true);
    }
  });
});

/**
 * Runs a Node child that allocates like a busy process (short-lived objects, some surviving a few
 * scavenges, across event-loop turns) with or without capYoungGeneration; its largest new space (MB).
 * A child, because the V8 flag is process-wide and for good.
 */
function largestNewSpaceMb(capMb: number | null): number {
  const heap = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../runtime/heap.ts')).href;
  const code = `
    import v8 from 'node:v8';
    import { capYoungGeneration } from ${JSON.stringify(heap)};
    if (${capMb} !== null) capYoungGeneration(${capMb});
    const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    let largest = 0;
    const keep = [];
    for (let turn = 0; turn < 600; turn++) {
      for (let i = 0; i < 5000; i++) {
        const o = { i, s: 'x' + i, a: [i, i + 1] };
        if (i % 40 === 0) keep.push(o);
        if (keep.length > 20000) keep.splice(0, 10000);
      }
      largest = Math.max(largest, newSpace());
      await new Promise((r) => setImmediate(r));
    }
    console.log(JSON.stringify({ largestMb: largest / 1048576 }));
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  if (child.status !== 0) throw new Error(`child exited ${child.status}: ${child.stderr}`);
  return (JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { largestMb: number }).largestMb;
}

describe('capYoungGeneration', () => {
  it('keeps the young generation at or under the cap, where V8 alone lets it reach 32 MB', () => {
    expect(largestNewSpaceMb(null)).toBeGreaterThan(8);
    expect(largestNewSpaceMb(8)).toBeLessThanOrEqual(8);
    expect(SYNC_NEW_SPACE_MB).toBeLessThan(32); // a cap below V8's own
  });

  it('leaves a semi-space flag given on the node command line alone', () => {
    expect(capYoungGeneration(8, ['--max-semi-space-size=2']).commandLine).toBe(true);
    expect(capYoungGeneration(8, ['--semi_space_growth_factor=3']).commandLine).toBe(true);
  });
});
