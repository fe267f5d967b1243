// runtime/store/server-clock.ts
// The offset between this PC's clock and the S3 server's, learnt from the `Date` header of its answers; shared by the SDK client and the lean PUT.

/** The `Date` header has whole-second resolution (RFC 7231 IMF-fixdate), so one sample bounds the offset to a window this wide plus the round trip. */
const DATE_HEADER_RESOLUTION_MS = 1000;

export interface ClockOffsetSample {
  /** Estimated server time − this PC's `Date.now()` (ms): negative when this PC is ahead. */
  offsetMs: number;
  /** This PC's `Date.now()` when it was last confirmed (ms). */
  at: number;
}

type OffsetListener = (sample: ClockOffsetSample) => void;

/**
 * What the S3 server's clock says relative to ours. S3 refuses a request signed more than 15
 * minutes from its own time (`403 RequestTimeTooSkewed`, AWS S3 API reference "Error codes"), so
 * every signer signs with `now()` = this PC's time + the offset.
 *
 * Each answer bounds the offset: the server stamped `Date: D` (truncated to the second) somewhere
 * between sending (t0) and receiving (t1), so offset ∈ [D − t1, D + 1 s − t0]. The estimate stays
 * put while a new window contains it and moves to the nearest edge when not, so it settles to
 * about a second without jitter and follows a clock that is stepped (NTP fixed at last) at once.
 */
export class ServerClock {
  private sample: ClockOffsetSample | null = null;
  private readonly listeners: OffsetListener[] = [];

  /** Server − this PC (ms); 0 until the first answer. */
  get offsetMs(): number {
    return this.sample?.offsetMs ?? 0;
  }

  /** The last estimate, or null before any answer carried a `Date`. */
  measured(): ClockOffsetSample | null {
    return this.sample;
  }

  /** The server's time now, by this PC's clock corrected (epoch ms): the signing time. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Learns from one answer: its `Date` header and when (this PC's `Date.now()`, ms) the request went out and the answer came back. Ignores a missing or unparsable header. */
  observeDateHeader(date: string | undefined, sentAtMs: number, receivedAtMs: number): void {
    const serverMs = date ? Date.parse(date) : NaN;
    if (!Number.isFinite(serverMs)) return;
    this.observeWindow(serverMs - receivedAtMs, serverMs + DATE_HEADER_RESOLUTION_MS - sentAtMs, receivedAtMs);
  }

  /** Learns from a window [lowMs, highMs] known to contain the offset. */
  observeWindow(lowMs: number, highMs: number, at = Date.now()): void {
    const previous = this.sample?.offsetMs;
    const offsetMs = previous === undefined ? Math.round((lowMs + highMs) / 2) : Math.round(Math.min(Math.max(previous, lowMs), highMs));
    this.sample = { offsetMs, at };
    if (offsetMs !== previous) for (const listener of this.listeners) listener(this.sample);
  }

  /** Called with the new estimate whenever it changes. */
  onChange(listener: OffsetListener): void {
    this.listeners.push(listener);
  }

  /**
   * Makes an AWS SDK v3 client's `config.systemClockOffset` this object. The SDK signs with
   * `Date.now() + systemClockOffset` and, on every answer and on a skew error, sets it to
   * `Date − time received` (@aws-sdk/core AwsSdkSigV4Signer, getUpdatedSystemClockOffset), then
   * retries a request refused for skew. Its value is the low edge of our window, so it is taken as
   * one: the SDK and the lean PUT then sign with one offset and neither undoes the other.
   */
  bindSdkConfig(config: object): void {
    Object.defineProperty(config, 'systemClockOffset', {
      configurable: true,
      enumerable: true,
      get: () => this.offsetMs,
      set: (value: unknown) => {
        if (typeof value === 'number' && Number.isFinite(value)) this.observeWindow(value, value + DATE_HEADER_RESOLUTION_MS);
      },
    });
  }
}

/** "this clock is 1200.0s ahead of s3://…" for `skewMs` = this PC − server (ms); under a second is agreement (the `Date` header's resolution). */
export function describeClockSkew(skewMs: number, store = 'the store'): string {
  if (Math.abs(skewMs) < DATE_HEADER_RESOLUTION_MS) return `agrees with ${store} (to its 1 s resolution)`;
  return `this clock is ${(Math.abs(skewMs) / 1000).toFixed(1)}s ${skewMs > 0 ? 'ahead of' : 'behind'} ${store}`;
}
