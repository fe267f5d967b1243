// test/sync-throttle.test.ts
// The AIMD upload limit sync uses against a throttling primary, and Retry-After parsing of the lean PUT.

import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../runtime/store/s3-put.ts';
import { AdaptiveLimit } from '../runtime/sync/backoff.ts';

describe('AdaptiveLimit', () => {
  it('halves on SlowDown once per burst, waits out Retry-After, and grows back by one per window of successes', () => {
    let now = 0;
    const limit = new AdaptiveLimit(24, () => now);
    expect(limit.onThrottle(1_000)).toBe(true);
    expect(limit.current).toBe(12);
    // The other uploads of the same burst are answered SlowDown too: one signal, not five.
    for (let i = 0; i < 5; i++) expect(limit.onThrottle(1_000)).toBe(false);
    expect(limit.current).toBe(12);
    expect(limit.pauseMs()).toBe(1_000);
    now = 1_000;
    expect(limit.pauseMs()).toBe(0);
    expect(limit.onThrottle(0)).toBe(true);
    expect(limit.current).toBe(6);
    for (let i = 0; i < 6; i++) limit.onSuccess();
    expect(limit.current).toBe(7);
    for (let i = 0; i < 1_000; i++) limit.onSuccess();
    expect(limit.current).toBe(24);
    expect({ lowest: limit.lowest, throttles: limit.throttles }).toEqual({ lowest: 6, throttles: 7 });
  });

  it('never goes below one upload in flight', () => {
    let now = 0;
    const limit = new AdaptiveLimit(2, () => now);
    for (let i = 0; i < 5; i++, now += 2_000) limit.onThrottle(0);
    expect(limit.current).toBe(1);
  });
});

describe('retryAfterMs', () => {
  it('reads delay-seconds and HTTP dates, caps MinIO\'s fixed 60 s, ignores junk', () => {
    expect(retryAfterMs('1')).toBe(1_000);
    expect(retryAfterMs('60')).toBe(5_000);
    expect(retryAfterMs(new Date(10_000 + 2_000).toUTCString(), 10_000)).toBe(2_000);
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});
