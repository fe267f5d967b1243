// runtime/store/router.ts
// StorageRouter: writes go to the primary while it is up and to the local cache while it is down.

import { withTimeout } from '../async.ts';
import { BtcError, isBtcError } from '../errors.ts';
import { conditionalWritesSummary, probeConditionalWrites, type ConditionalWritesReport } from './capabilities.ts';
import { THROTTLE_CODES } from './s3-errors.ts';
import type { DeleteOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions, PutResult } from './types.ts';
import { storageProbeKey } from '../keys.ts';

export interface StorageRouterOptions {
  /** The NAS (MinIO) or the embedded FsStore: the one source of truth. */
  primary: ObjectStore;
  /** The local cache bucket (FsStore) that takes writes while the primary is down. */
  cache: ObjectStore;
  /** Used in the probe key `health/probe-<host>`. */
  host: string;
  /** A probe slower than this counts as failed (ms). */
  probeTimeoutMs: number;
  /** Consecutive good probes before writes return to the primary. */
  upAfterGoodProbes: number;
  /** Consecutive failed probes before writes go to the cache. */
  downAfterBadProbes: number;
}

export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
  /** Why it failed: `network` (unreachable, timed out, 5xx), or the S3 error code of a refusal (`AccessDenied`, `SignatureDoesNotMatch`, …). */
  cause?: string;
}

export interface StorageSwitch {
  from: 'primary' | 'secondary';
  to: 'primary' | 'secondary';
  reason: string;
  /** To the cache: why (`network`, or the S3 code of a refusal: `MaxVersionsExceeded`, `AccessDenied`, …); null back to the primary. */
  cause: string | null;
}

export interface StorageState {
  primary: 'up' | 'down';
  secondary: 'used' | 'idle';
  secondaryPath: string;
  /** Something was written to the cache that the primary does not have yet. */
  syncPending: boolean;
  /** While the primary is down: why (see ProbeResult.cause); null while it is up. */
  cause: string | null;
  goodProbes: number;
  badProbes: number;
  lastProbe?: ProbeResult & { at: number };
  /** Does the primary enforce create-only and compare-and-swap: `ok`, `missing: …` or `unknown: …` (capabilities.ts). */
  conditionalWrites: string;
}

/** The conditional-write probe makes ~7 requests where the storage probe makes 3. */
const CONDITIONAL_PROBE_TIMEOUT_FACTOR = 3;

type SwitchListener = (change: StorageSwitch) => void;

export class StorageRouter implements ObjectStore {
  readonly primary: ObjectStore;
  readonly cache: ObjectStore;
  readonly describe: string;
  private readonly options: StorageRouterOptions;
  private usingPrimary = true;
  private goodProbes = 0;
  private badProbes = 0;
  private syncPending = false;
  private downCause: string | null = null;
  private lastProbe?: ProbeResult & { at: number };
  private readonly listeners: SwitchListener[] = [];
  private probeInFlight: Promise<ProbeResult> | undefined;
  private conditionalWrites: ConditionalWritesReport | null = null;
  private conditionalProbeInFlight: Promise<ConditionalWritesReport> | undefined;

  constructor(options: StorageRouterOptions) {
    this.options = options;
    this.primary = options.primary;
    this.cache = options.cache;
    this.describe = `router(${options.primary.describe} | ${options.cache.describe})`;
  }

  state(): StorageState {
    return {
      primary: this.usingPrimary ? 'up' : 'down',
      secondary: this.usingPrimary ? 'idle' : 'used',
      secondaryPath: this.cache.describe,
      syncPending: this.syncPending,
      cause: this.usingPrimary ? null : this.downCause,
      goodProbes: this.goodProbes,
      badProbes: this.badProbes,
      lastProbe: this.lastProbe,
      conditionalWrites: conditionalWritesSummary(this.conditionalWrites),
    };
  }

  /** The last conditional-write probe of the primary; null before the first. */
  conditionalWritesReport(): ConditionalWritesReport | null {
    return this.conditionalWrites;
  }

  /**
   * Probes whether the primary enforces If-None-Match / If-Match (capabilities.ts) and keeps the
   * result for state(). Concurrent callers (preflight, the check after a switch back) share one
   * probe: two at once on `health/cas-<host>` would refuse each other's writes.
   */
  checkConditionalWrites(now = Date.now()): Promise<ConditionalWritesReport> {
    this.conditionalProbeInFlight ??= probeConditionalWrites(this.primary, this.options.host, now, this.options.probeTimeoutMs * CONDITIONAL_PROBE_TIMEOUT_FACTOR)
      .then((report) => (this.conditionalWrites = report))
      .finally(() => (this.conditionalProbeInFlight = undefined));
    return this.conditionalProbeInFlight;
  }

  onSwitch(listener: SwitchListener): void {
    this.listeners.push(listener);
  }

  /** Marks whether the cache holds data the primary lacks (sync sets it false when done). */
  setSyncPending(pending: boolean): void {
    this.syncPending = pending;
  }

  /**
   * Cheap probe of the primary: put + get + delete of `health/probe-<host>` within the timeout.
   * Concurrent callers (preflight and the scheduled probe) share one probe, so they never race
   * on the same key and read back each other's bytes.
   */
  probePrimary(now = Date.now()): Promise<ProbeResult> {
    this.probeInFlight ??= this.runProbe(now).finally(() => (this.probeInFlight = undefined));
    return this.probeInFlight;
  }

  private async runProbe(now: number): Promise<ProbeResult> {
    const started = performance.now();
    const key = storageProbeKey(this.options.host);
    const body = `${this.options.host} ${now}`;
    try {
      await withTimeout(
        (async () => {
          await this.primary.put(key, body, { contentType: 'text/plain' });
          const got = await this.primary.get(key);
          if (got.body.toString() !== body) throw new Error('probe read back different bytes');
          await this.primary.delete(key);
        })(),
        this.options.probeTimeoutMs,
        'probe',
      );
      return { ok: true, latencyMs: Math.round(performance.now() - started) };
    } catch (err) {
      return { ok: false, latencyMs: Math.round(performance.now() - started), error: describeError(err), cause: storeErrorCause(err) };
    }
  }

  /**
   * Feeds one probe result into the hysteresis: down after `downAfterBadProbes` failures, back up
   * only after `upAfterGoodProbes` consecutive successes, so a flapping NAS does not thrash.
   */
  recordProbe(result: ProbeResult, at = Date.now()): StorageSwitch | null {
    this.lastProbe = { ...result, at };
    if (result.ok) {
      this.goodProbes++;
      this.badProbes = 0;
      if (!this.usingPrimary && this.goodProbes >= this.options.upAfterGoodProbes) {
        return this.switchTo('primary', `${this.goodProbes} good probes`);
      }
    } else {
      this.badProbes++;
      this.goodProbes = 0;
      // The newest failure is the one to fix (the NAS came back but now refuses the keys, …).
      this.downCause = result.cause ?? null;
      if (this.usingPrimary && this.badProbes >= this.options.downAfterBadProbes) {
        return this.switchTo('secondary', `probe failed: ${result.error ?? 'unknown'}`);
      }
    }
    return null;
  }

  // ── ObjectStore: reads and writes follow the current target; a write that finds the primary
  //    unreachable, or that it refuses (AccessDenied, MaxVersionsExceeded, RequestTimeTooSkewed, …),
  //    fails over at once instead of losing the data, with the refusal's S3 code as the cause.
  //    A throttled write (503 SlowDown after the store's own retries) does not: the NAS is up
  //    and busy, and the caller's data is still on disk for its next try.

  async put(key: string, body: Buffer | string, options?: PutOptions): Promise<PutResult> {
    if (this.usingPrimary) {
      try {
        return await this.primary.put(key, body, options);
      } catch (err) {
        if (!(isBtcError(err, 'Unavailable') || isRefusal(err)) || isThrottled(err)) throw err;
        this.downCause = storeErrorCause(err);
        this.switchTo('secondary', `write failed: ${describeError(err)}`);
      }
    }
    const result = await this.cache.put(key, body, options);
    this.syncPending = true;
    return result;
  }

  get(key: string): Promise<GetResult> {
    return this.read((s) => s.get(key));
  }

  getOrNull(key: string): Promise<GetResult | null> {
    return this.read((s) => s.getOrNull(key));
  }

  head(key: string): Promise<ObjectInfo | null> {
    return this.read((s) => s.head(key));
  }

  delete(key: string, options?: DeleteOptions): Promise<void> {
    return this.read((s) => s.delete(key, options));
  }

  listPage(prefix: string, options?: ListOptions): Promise<ListPage> {
    return this.read((s) => s.listPage(prefix, options));
  }

  async flush(): Promise<void> {
    await Promise.all([this.primary.flush?.(), this.cache.flush?.()]);
  }

  private async read<R>(op: (store: ObjectStore) => Promise<R>): Promise<R> {
    if (this.usingPrimary) {
      try {
        return await op(this.primary);
      } catch (err) {
        if (!isBtcError(err, 'Unavailable') || isThrottled(err)) throw err;
        this.downCause = storeErrorCause(err);
        this.switchTo('secondary', `read failed: ${describeError(err)}`);
      }
    }
    return op(this.cache);
  }

  private switchTo(to: 'primary' | 'secondary', reason: string): StorageSwitch | null {
    const wantPrimary = to === 'primary';
    if (this.usingPrimary === wantPrimary) return null;
    this.usingPrimary = wantPrimary;
    // Everything written from now on lands in the cache, so sync will have work to do.
    if (!wantPrimary) {
      this.goodProbes = 0;
      this.syncPending = true;
    }
    const change: StorageSwitch = { from: wantPrimary ? 'secondary' : 'primary', to, reason, cause: wantPrimary ? null : (this.downCause ?? 'network') };
    for (const listener of this.listeners) listener(change);
    return change;
  }
}

/**
 * The status cause of a failed store call: the S3 error code when the store answered with a
 * refusal (AccessDenied, SignatureDoesNotMatch, NoSuchBucket, …), `network` when it did not
 * answer in time or at all (or answered 5xx), `error` otherwise.
 */
export function storeErrorCause(err: unknown): string {
  const s3 = s3CodeOf(err);
  if (!isBtcError(err, 'Unavailable')) return s3 ?? 'error';
  // Unavailable is "no useful answer" (timeout, 5xx), except the answers that name what to fix.
  return s3 === 'NoSuchBucket' || isThrottled(err) ? s3! : 'network';
}

/** The store answered, but asked us to slow down (s3-errors.ts THROTTLE_CODES): up, not down. */
export function isThrottled(err: unknown): boolean {
  const s3 = s3CodeOf(err);
  return s3 !== undefined && THROTTLE_CODES.has(s3);
}

/** A non-network 4xx refusal by the store (s3-errors.ts refusalError): an answer with an S3 code, not a lost race. */
function isRefusal(err: unknown): boolean {
  return isBtcError(err, 'Internal') && s3CodeOf(err) !== undefined;
}

function s3CodeOf(err: unknown): string | undefined {
  const s3 = isBtcError(err) ? (err.details as { s3?: unknown } | undefined)?.s3 : undefined;
  return typeof s3 === 'string' && s3 !== '' ? s3 : undefined;
}

function describeError(err: unknown): string {
  if (err instanceof BtcError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

