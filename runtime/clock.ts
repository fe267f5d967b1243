// runtime/clock.ts
// Wall and monotonic time for duties; the wall clock can be skewed in tests, the monotonic one never.

export interface Clock {
  /** Wall-clock epoch ms (records, keys, status). May drift between PCs: never compare across hosts. */
  now(): number;
  /** Monotonic ms since an arbitrary origin: the only clock used to judge lease staleness. */
  monotonicMs(): number;
  /**
   * How far `now()` is shifted from the process's `Date.now()` (ms): set by systemClock (the test
   * skew); absent for clocks that tests move by hand, whose time is not this PC's at all.
   */
  readonly wallShiftMs?: number;
}

/**
 * The system clock. `skewMs` shifts the wall clock only (BTC_TS_TEST_CLOCK_SKEW_MS, used by the
 * clock-skew tests to prove nothing depends on two PCs agreeing on the time).
 */
export function systemClock(skewMs = Number(process.env.BTC_TS_TEST_CLOCK_SKEW_MS ?? 0) || 0): Clock {
  return {
    now: () => Date.now() + skewMs,
    monotonicMs: () => performance.now(),
    wallShiftMs: skewMs,
  };
}

/** A hand-moved clock for tests: `advance` moves both clocks, `advanceWall` / `set` the wall clock only. */
export interface ManualClock extends Clock {
  /** Time passes normally: wall and monotonic both move by `ms`. */
  advance(ms: number): void;
  /**
   * Only the wall clock moves by `ms` (negative: back): a PC that slept (its monotonic clock
   * stops while suspended) or an NTP step.
   */
  advanceWall(ms: number): void;
  /** Sets the wall clock to `ms` (epoch ms); the monotonic clock stays. */
  set(ms: number): void;
}

export function manualClock(startMs = Date.UTC(2026, 0, 1)): ManualClock {
  let wall = startMs;
  let mono = 0;
  return {
    now: () => wall,
    monotonicMs: () => mono,
    advance(ms: number) {
      wall += ms;
      mono += ms;
    },
    advanceWall(ms: number) {
      wall += ms;
    },
    set(ms: number) {
      wall = ms;
    },
  };
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** `{ date: "20260102", time: "0905" }` in UTC: the stamp in bundle names and restore point tags. */
export function utcStamp(ms: number): { date: string; time: string } {
  const iso = new Date(ms).toISOString();
  return { date: iso.slice(0, 10).replaceAll('-', ''), time: iso.slice(11, 13) + iso.slice(14, 16) };
}
