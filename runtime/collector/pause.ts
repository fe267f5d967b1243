// runtime/collector/pause.ts
// One pause per exchange after a 429/418/403: from Retry-After, else the body's ban-until time, else exponential backoff.

import ccxt from './ccxt.ts';
import { backoffDelay } from '../async.ts';

/**
 * What an exchange's refusal told us about how long to stay away. Binance answers 429 (too many
 * requests) and escalates to 418 (IP banned, minutes to days), both with `Retry-After`; behind a
 * proxy the header can be lost and only the body says `IP banned until 1700000000000`
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits). Binance's WAF and
 * Bybit answer 403 for the same thing (https://bybit-exchange.github.io/docs/v5/rate-limit).
 */
export interface BanInfo {
  /** HTTP status of the refusal (429, 418, 403). */
  status: number;
  /** `Retry-After` in ms, when the header came through. */
  retryAfterMs?: number;
  /** Wall-clock epoch ms the body says the ban ends, when it says so. */
  banUntilMs?: number;
}

/** A ccxt RateLimitExceeded raised on a 429/418/403, carrying what the exchange said about the ban. */
export class ExchangeBan extends ccxt.RateLimitExceeded {
  readonly ban: BanInfo;
  /** Kept for callers that read Retry-After only (errors.ts). */
  readonly retryAfterMs?: number;
  constructor(message: string, ban: BanInfo) {
    super(message);
    this.name = 'ExchangeBan';
    this.ban = ban;
    this.retryAfterMs = ban.retryAfterMs;
  }
}

/** Raised instead of calling an exchange that is paused (a queued stream, the next page of a trade loop). */
export class ExchangePaused extends ccxt.RateLimitExceeded {
  readonly untilMs: number;
  constructor(exchange: string, untilMs: number) {
    super(`${exchange} is paused until ${new Date(untilMs).toISOString()} (rate limit or ban); not called`);
    this.name = 'ExchangePaused';
    this.untilMs = untilMs;
  }
}

/** First pause (ms) when the exchange says nothing about the ban's length; doubles per consecutive ban. */
export const BAN_BACKOFF_BASE_MS = 2_000;
/** Longest pause taken without the exchange saying how long (ms). */
export const BAN_BACKOFF_MAX_MS = 30 * 60_000;

/**
 * The ban end written in the body, as wall-clock epoch ms. Understands Binance's
 * `IP banned until 1700000000000` (ms, or s when 10 digits) and `try again in N second(s)/minute(s)/hour(s)`.
 */
export function banUntilFromBody(body: string | undefined, nowMs: number): number | undefined {
  if (!body) return undefined;
  const until = /banned until (\d{10,13})\b/i.exec(body);
  if (until) {
    const n = Number(until[1]);
    return until[1]!.length <= 10 ? n * 1000 : n;
  }
  const after = /(?:try again|retry) (?:in|after) (\d+(?:\.\d+)?) ?(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b/i.exec(body);
  if (after) {
    const unit = after[2]!.toLowerCase();
    const factor = unit.startsWith('ms') || unit.startsWith('milli') ? 1 : unit.startsWith('h') ? 3_600_000 : unit.startsWith('m') ? 60_000 : 1_000;
    return nowMs + Number(after[1]) * factor;
  }
  return undefined;
}

export interface PauseView {
  /** Monotonic ms the pause ends. */
  untilMonotonicMs: number;
  /** Wall-clock epoch ms it ends (status shows it). */
  untilMs: number;
  /** Where its length came from. */
  source: 'retry-after' | 'body' | 'backoff';
  status: number;
}

interface ExchangePauseState extends PauseView {
  /** Consecutive refusals without a stated length (exponential backoff). */
  strikes: number;
}

/**
 * Per-exchange pauses of one runtime. A refusal pauses every stream of that exchange; the pause is
 * checked before a stream is started, after it gets its slot, and before every HTTP request
 * (ExchangePool hooks ccxt's `fetch`, after ccxt's own rate limiter), so neither queued streams nor
 * a trade page loop call a banned exchange.
 */
export class ExchangePauses {
  private readonly pauses = new Map<string, ExchangePauseState>();
  private readonly strikes = new Map<string, number>();
  private monotonic: () => number = () => performance.now();
  private wall: () => number = () => Date.now();

  /** The clock pauses are judged by (the runtime's; set at every tick). */
  useClock(clock: { now(): number; monotonicMs(): number }): void {
    this.monotonic = () => clock.monotonicMs();
    this.wall = () => clock.now();
  }

  /**
   * Records a refusal and returns the pause taken: `Retry-After` when present, else the body's
   * ban-until time, else BAN_BACKOFF_BASE_MS (at least `minMs`) doubled per consecutive refusal
   * without a stated length, capped at BAN_BACKOFF_MAX_MS. A pause never shortens one already running,
   * and an unstated refusal during a running pause (a request sent before it began) adds no strike.
   */
  refused(exchange: string, ban: BanInfo, minMs = 0): PauseView {
    const nowMono = this.monotonic();
    const nowWall = this.wall();
    let lengthMs: number;
    let source: PauseView['source'];
    if (ban.retryAfterMs !== undefined) {
      lengthMs = ban.retryAfterMs;
      source = 'retry-after';
    } else if (ban.banUntilMs !== undefined && ban.banUntilMs > nowWall) {
      lengthMs = ban.banUntilMs - nowWall;
      source = 'body';
    } else {
      // Streams in flight when the ban began each bring a refusal: one ban, one strike.
      const running = this.pauses.get(exchange);
      if (running && running.untilMonotonicMs > nowMono) return running;
      const strikes = (this.strikes.get(exchange) ?? 0) + 1;
      this.strikes.set(exchange, strikes);
      lengthMs = backoffDelay(strikes, { baseMs: Math.max(BAN_BACKOFF_BASE_MS, minMs), capMs: BAN_BACKOFF_MAX_MS });
      source = 'backoff';
    }
    const current = this.pauses.get(exchange);
    const untilMonotonicMs = nowMono + lengthMs;
    if (current && current.untilMonotonicMs >= untilMonotonicMs) return current;
    const next: ExchangePauseState = { untilMonotonicMs, untilMs: nowWall + lengthMs, source, status: ban.status, strikes: this.strikes.get(exchange) ?? 0 };
    this.pauses.set(exchange, next);
    return next;
  }

  /** A successful answer: the backoff for unstated bans starts over. */
  answered(exchange: string): void {
    this.strikes.delete(exchange);
  }

  /** Ms still to wait before calling `exchange` (0 = go). */
  pausedFor(exchange: string, nowMonotonicMs = this.monotonic()): number {
    const p = this.pauses.get(exchange);
    return p ? Math.max(0, p.untilMonotonicMs - nowMonotonicMs) : 0;
  }

  /** The running pause of `exchange`, or null. */
  current(exchange: string, nowMonotonicMs = this.monotonic()): PauseView | null {
    const p = this.pauses.get(exchange);
    return p && p.untilMonotonicMs > nowMonotonicMs ? { untilMonotonicMs: p.untilMonotonicMs, untilMs: p.untilMs, source: p.source, status: p.status } : null;
  }

  /** Throws ExchangePaused when `exchange` is paused (called before every HTTP request). */
  assertOpen(exchange: string): void {
    const p = this.current(exchange);
    if (p) throw new ExchangePaused(exchange, p.untilMs);
  }
}

/**
 * After a stream failed with cause `rate_limit`: an ExchangeBan pauses by what it carries, a plain
 * ccxt RateLimitExceeded/DDoSProtection as an unstated 429, and an ExchangePaused (refused by a
 * running pause) adds nothing. `minMs` (the tick) floors the backoff of unstated bans.
 */
export function pauseOnRefusal(pauses: ExchangePauses, exchange: string, err: unknown, minMs: number): void {
  if (err instanceof ExchangePaused) return;
  if (err instanceof ExchangeBan) pauses.refused(exchange, err.ban, minMs);
  else pauses.refused(exchange, { status: 429, retryAfterMs: (err as { retryAfterMs?: number }).retryAfterMs }, minMs);
}

/**
 * A stream row while its exchange is paused: not ok, cause `rate_limit`, `paused_until` (ISO) the
 * time the pause ends, and a note saying why. Rows of exchanges not paused are returned unchanged.
 */
export function pauseRow<R extends { ok: boolean; cause: string | null; notes: string[]; paused_until?: string }>(row: R, pause: PauseView | null): R {
  if (!pause) return row;
  const until = new Date(pause.untilMs).toISOString();
  const why = pause.source === 'retry-after' ? 'Retry-After' : pause.source === 'body' ? 'ban time in the body' : 'backoff, no ban time given';
  return { ...row, ok: false, cause: 'rate_limit', paused_until: until, notes: [...row.notes, `exchange paused until ${until} (HTTP ${pause.status}, ${why})`] };
}
