// runtime/clock-skew.ts
// This PC's clock against the NAS's, as a number operators see (/health, status, page) and an audit event when it crosses the limit.

import type { AuditLog } from './audit.ts';
import type { Logger } from './logger.ts';
import { describeClockSkew, type ServerClock } from './store/server-clock.ts';

export interface ClockSkewMonitorOptions {
  /** The primary's offset, learnt from its answers; absent for a primary on this PC (FsStore): no skew to speak of. */
  serverClock?: ServerClock;
  /** This PC's wall clock as the runtime uses it (epoch ms). */
  pcNow: () => number;
  /** Above this |skew| (ms) the clock is "off": preflight.maxClockSkewSeconds × 1000. */
  limitMs: number;
  /** Names the store in messages (`s3://btc-ts@nas:9000`). */
  storeName: string;
  audit: Pick<AuditLog, 'record'>;
  log: Logger;
  /** Called after each crossing (status rewrite). */
  onCrossing?: () => void;
}

export interface ClockSkewReading {
  /** This PC − the NAS (ms): positive when this PC is ahead; null before the NAS has answered. */
  skewMs: number | null;
  limitMs: number;
  overLimit: boolean;
}

/**
 * Signing is corrected by the offset (S3 calls succeed), but keys, `dt=` partitions and audit
 * times still come from this PC's clock, so a skew over the limit is worth an operator's look:
 * `collector.clock.skew` is audited once when |skew| goes over the limit (`state: "over"`) and
 * once when it comes back (`state: "back"`), with `skew_ms`, `limit_ms` and `store`.
 */
export class ClockSkewMonitor {
  private overLimit = false;
  private readonly options: ClockSkewMonitorOptions;

  constructor(options: ClockSkewMonitorOptions) {
    this.options = options;
    options.serverClock?.onChange(() => this.check());
  }

  reading(): ClockSkewReading {
    const sample = this.options.serverClock?.measured();
    // Server time = Date.now() + offset; the runtime's clock may be shifted on top (tests), so both count.
    const skewMs = sample ? Math.round(this.options.pcNow() - (Date.now() + sample.offsetMs)) : null;
    return { skewMs, limitMs: this.options.limitMs, overLimit: this.overLimit };
  }

  private check(): void {
    const { skewMs, limitMs } = this.reading();
    if (skewMs === null) return;
    const over = Math.abs(skewMs) > limitMs;
    if (over === this.overLimit) return;
    this.overLimit = over;
    const { storeName, audit, log } = this.options;
    const text = describeClockSkew(skewMs, storeName);
    audit.record('collector.clock.skew', { state: over ? 'over' : 'back', skew_ms: skewMs, limit_ms: limitMs, store: storeName }).catch((err: unknown) => log.error({ err: String(err) }, 'collector.clock.skew could not be audited'));
    if (over) log.warn({ skew_ms: skewMs, limit_ms: limitMs }, `${text} (limit ${limitMs / 1000} s): S3 requests are signed with the NAS's time, but keys and records carry this clock; fix the time sync (NTP)`);
    else log.info({ skew_ms: skewMs, limit_ms: limitMs }, `${text}: back within the limit`);
    this.options.onCrossing?.();
  }
}
