// test/async.test.ts
// The async toolkit (runtime/async.ts): backoff bounds, retries that stop where they should, abort, limits never exceeded, timeouts with the project's error.

import { describe, expect, it } from 'vitest';
import { backoffDelay, BoundedPool, mapLimit, retry, Slots, timeout, orAfter, withTimeout, type DynamicLimit } from '../runtime/async.ts';
import { BtcError, isBtcError } from '../runtime/errors.ts';

const unavailable = () => new BtcError('Unavailable', 'store away');

/** A promise and its resolve, to finish a task when the test says so. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = () => resolve()));
  return { promise, open };
}

/** Polls `check` until true (a generous bound: the machine is shared). */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('backoffDelay', () => {
  it('stays within [base·2^k·low, base·2^k·high], capped before jitter', () => {
    const shape = { baseMs: 100, capMs: 1_000, jitter: [0.8, 1.2] as const };
    for (let attempt = 1; attempt <= 8; attempt++) {
      const exp = Math.min(1_000, 100 * 2 ** (attempt - 1));
      expect(backoffDelay(attempt, shape, () => 0)).toBeCloseTo(exp * 0.8, 9);
      expect(backoffDelay(attempt, shape, () => 0.999_999)).toBeCloseTo(exp * 1.2, 3);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, shape);
        expect(d).toBeGreaterThanOrEqual(exp * 0.8);
        expect(d).toBeLessThan(exp * 1.2);
      }
    }
  });

  it('full jitter, no jitter, attempt 0, and a doubling limit', () => {
    expect(backoffDelay(3, { baseMs: 100, capMs: 2_000, jitter: [0, 1] }, () => 0)).toBe(0);
    expect(backoffDelay(3, { baseMs: 100, capMs: 2_000, jitter: [0, 1] }, () => 0.5)).toBe(200);
    let called = false;
    expect(backoffDelay(4, { baseMs: 250, capMs: 60_000 }, () => ((called = true), 0))).toBe(2_000);
    expect(called).toBe(false); // no jitter draws no random number
    expect(backoffDelay(0, { baseMs: 1_000, capMs: 30_000 })).toBe(1_000);
    expect(backoffDelay(20, { baseMs: 250, capMs: Infinity, maxDoublings: 10 })).toBe(250 * 1_024);
    expect(backoffDelay(5_000, { baseMs: 1, capMs: 7 })).toBe(7); // no Infinity, no NaN
  });
});

describe('retry', () => {
  it('retries until success, waiting what delayMs says and telling onRetry first', async () => {
    const seen: Array<[number, number]> = [];
    let calls = 0;
    const got = await retry(
      async (attempt) => {
        calls++;
        expect(attempt).toBe(calls);
        if (calls < 3) throw unavailable();
        return 'done';
      },
      { attempts: 5, retryIf: (err) => isBtcError(err, 'Unavailable'), delayMs: (a) => a * 5, onRetry: (a, d) => void seen.push([a, d]) },
    );
    expect(got).toBe('done');
    expect(seen).toEqual([[1, 5], [2, 10]]);
  });

  it('throws the last error as it came after the attempts are used up', async () => {
    let calls = 0;
    const last = unavailable();
    await expect(retry(async () => {
      calls++;
      throw calls === 3 ? last : unavailable();
    }, { attempts: 3, retryIf: () => true, delayMs: () => 0 })).rejects.toBe(last);
    expect(calls).toBe(3);
  });

  it('stops at once on a failure retryIf refuses, whatever was thrown (TypeError, non-Error)', async () => {
    for (const thrown of [new BtcError('NotFound', 'gone'), new TypeError('bad'), 'a string']) {
      let calls = 0;
      await expect(retry(async () => {
        calls++;
        throw thrown;
      }, { attempts: 5, retryIf: (err) => isBtcError(err, 'Unavailable'), delayMs: () => 0 })).rejects.toBe(thrown);
      expect(calls).toBe(1);
    }
  });

  it('retries a TypeError when retryIf says so (p-retry alone would not)', async () => {
    let calls = 0;
    await expect(retry(async () => {
      if (++calls < 3) throw new TypeError('odd');
      return calls;
    }, { attempts: 3, retryIf: () => true, delayMs: () => 0 })).resolves.toBe(3);
  });

  it('honours abort: the wait ends at once and the last error is thrown, no new attempt', async () => {
    const controller = new AbortController();
    let calls = 0;
    const started = performance.now();
    const run = retry(async () => {
      calls++;
      throw unavailable();
    }, { attempts: 10, retryIf: () => true, delayMs: () => 60_000, onRetry: () => controller.abort(), signal: controller.signal });
    await expect(run).rejects.toSatisfy((err) => isBtcError(err, 'Unavailable'));
    expect(calls).toBe(1);
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});

describe('timeouts', () => {
  it('withTimeout rejects with Unavailable naming the call and the time', async () => {
    const never = new Promise<never>(() => undefined);
    await expect(withTimeout(never, 10, 'lease call')).rejects.toSatisfy(
      (err) => isBtcError(err, 'Unavailable') && (err as Error).message === 'lease call timed out after 10 ms',
    );
    await expect(withTimeout(Promise.resolve(7), 1_000)).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new BtcError('NotFound', 'x')), 1_000)).rejects.toSatisfy((err) => isBtcError(err, 'NotFound'));
  });

  it('timeout uses the caller error; orAfter resolves the fallback; a late rejection is handled', async () => {
    class Silent extends Error {}
    const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('late')), 30));
    await expect(timeout(late, 5, () => new Silent('quiet'))).rejects.toBeInstanceOf(Silent);
    await expect(orAfter(new Promise<number>(() => undefined), 5, 'fallback')).resolves.toBe('fallback');
    await expect(orAfter(Promise.resolve(1), 1_000, 'fallback')).resolves.toBe(1);
    await new Promise((r) => setTimeout(r, 50)); // the late rejection lands: vitest fails the run on an unhandled one
  });
});

describe('limits', () => {
  it('mapLimit never has more than N in flight and keeps the order', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit(Array.from({ length: 40 }, (_, i) => i), 3, async (i) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, i % 4));
      inFlight--;
      return i * 2;
    });
    expect(peak).toBe(3);
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
  });

  it('Slots: at most size holders, first come first served', async () => {
    const slots = new Slots(2);
    const order: number[] = [];
    await slots.acquire();
    await slots.acquire();
    const third = slots.acquire().then(() => order.push(3));
    const fourth = slots.acquire().then(() => order.push(4));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    slots.release();
    await third;
    expect(order).toEqual([3]);
    slots.release();
    await fourth;
    expect(order).toEqual([3, 4]);
  });

  it('BoundedPool: submit waits for a slot, never more than N in flight, first failure kept and stops new tasks', async () => {
    const pool = new BoundedPool(2);
    let inFlight = 0;
    let peak = 0;
    const gates = Array.from({ length: 4 }, () => gate());
    const task = (i: number) => async () => {
      peak = Math.max(peak, ++inFlight);
      await gates[i]!.promise;
      inFlight--;
    };
    await pool.submit(task(0));
    await pool.submit(task(1));
    let thirdIn = false;
    const third = pool.submit(task(2)).then(() => (thirdIn = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(thirdIn).toBe(false);
    gates[0]!.open();
    await third;
    expect(peak).toBe(2);
    const boom = new Error('boom');
    gates[1]!.open(); // frees the slot the failing task takes
    await pool.submit(async () => {
      throw boom;
    });
    gates[2]!.open();
    await until(() => pool.hasFailed);
    let ran = false;
    await pool.submit(async () => void (ran = true));
    await pool.drain();
    expect(ran).toBe(false);
    expect(pool.error).toBe(boom);
  });

  it('BoundedPool with a dynamic limit: follows it down and up, and waits out its pause', async () => {
    const limit: DynamicLimit & { current: number; pause: number } = { current: 3, pause: 0, pauseMs: () => limit.pause };
    const pool = new BoundedPool(limit);
    let inFlight = 0;
    let peak = 0;
    const gates: Array<ReturnType<typeof gate>> = [];
    const task = () => {
      const g = gate();
      gates.push(g);
      return async () => {
        peak = Math.max(peak, ++inFlight);
        await g.promise;
        inFlight--;
      };
    };
    for (let i = 0; i < 3; i++) await pool.submit(task());
    expect(inFlight).toBe(3);
    limit.current = 1; // throttled: halved and more
    let fourthIn = false;
    const fourth = pool.submit(task()).then(() => (fourthIn = true));
    gates[0]!.open();
    gates[1]!.open();
    await until(() => inFlight === 1);
    await new Promise((r) => setTimeout(r, 10));
    expect(fourthIn).toBe(false); // one still running: the limit is 1
    gates[2]!.open();
    await fourth;
    expect(inFlight).toBe(1);
    limit.pause = 30;
    limit.current = 2;
    const paused = performance.now();
    const pausedSubmit = pool.submit(task());
    setTimeout(() => (limit.pause = 0), 20);
    await pausedSubmit;
    expect(performance.now() - paused).toBeGreaterThanOrEqual(15);
    expect(inFlight).toBe(2);
    for (const g of gates) g.open();
    await pool.drain();
    expect(peak).toBe(3);
    expect(inFlight).toBe(0);
  });
});
