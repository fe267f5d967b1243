// test/heap.test.ts
// BTC_TS_HEAP_GROWING_PERCENT: the runtime's own V8 heap growth setting (runtime/heap.ts) — default, off, a node flag winning, bad values refused.

import { describe, expect, it } from 'vitest';
import { applyHeapSettings, HEAP_GROWING_PERCENT_DEFAULT } from '../runtime/heap.ts';
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
