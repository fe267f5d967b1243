// runtime/emulator/faults.ts
// The emulator's fault switches (set through its admin endpoint): 429 + Retry-After, 5xx, stalls, bad JSON, dropped trades.

import { z } from 'zod';

const ratio = z.number().min(0).max(1).default(1);

export const faultsSchema = z.strictObject({
  /** Answer 429 with a Retry-After header (seconds). */
  rateLimit: z.strictObject({ retryAfterSeconds: z.number().int().min(0).max(3600).default(1), ratio }).optional(),
  /** Answer a 5xx status. */
  serverError: z.strictObject({ status: z.number().int().min(500).max(599).default(503), ratio }).optional(),
  /** Hold the answer back this long before sending it. */
  slow: z.strictObject({ delayMs: z.number().int().min(0).max(600_000), ratio }).optional(),
  /** Answer 200 with a body that is not JSON. */
  malformed: z.strictObject({ ratio }).optional(),
  /**
   * Leave trades out of aggTrades/trades answers. Not permanent: a dropped id is served on the next
   * request that covers it (like a live feed that skipped it while history has it). Permanent: never served.
   */
  dropTrades: z.strictObject({ ratio: z.number().min(0).max(1), permanent: z.boolean().default(false) }).optional(),
  /**
   * An IP ban, once: from the first call after it is switched on, every call is answered `status`
   * for `seconds`, then the ban lifts (and the switch clears itself). 418 is Binance's ban (body
   * `{code:-1003, msg:"… IP banned until <ms> …"}` when `bodyUntil`), 403 its WAF's and Bybit's
   * (an HTML page). `header: false` leaves `Retry-After` out, as a proxy may.
   */
  ban: z
    .strictObject({
      status: z.union([z.literal(418), z.literal(403), z.literal(429)]).default(418),
      seconds: z.number().min(0).max(86_400).default(2),
      header: z.boolean().default(true),
      bodyUntil: z.boolean().default(true),
    })
    .optional(),
  /**
   * Symbols the exchange no longer lists (delisted or renamed), as ccxt symbols or market ids: left
   * out of exchangeInfo and answered `{code:-1121,"msg":"Invalid symbol."}` on every endpoint.
   */
  delist: z.array(z.string()).optional(),
  /**
   * Trade and candle times as a buggy feed serves them (aggTrades `T`, trades `time`, kline open and
   * close times): shifted by `shiftMs` (far future, or before what was served), then in seconds
   * instead of milliseconds when `seconds`.
   */
  badTimes: z.strictObject({ seconds: z.boolean().default(false), shiftMs: z.number().int().default(0) }).optional(),
  /** The exchange's clock runs this far (ms) ahead (+) or behind (−) the emulator host's: every time it serves, `/time` included. */
  clockOffsetMs: z.number().int().min(-86_400_000).max(86_400_000).optional(),
  /** A halted market or frozen feed: from the first call after it is set, every answer is the market of that instant (`/time` stays live). */
  freeze: z.strictObject({}).optional(),
  /** Order book quirks: `crossed` puts the best bid above the best ask; `updateIdBack` serves `lastUpdateId` this much lower. */
  book: z.strictObject({ crossed: z.boolean().default(false), updateIdBack: z.number().int().min(0).default(0) }).optional(),
  /** Open times in [fromMs, toMs] have no kline (exchange maintenance). */
  candleHoles: z.strictObject({ fromMs: z.number().int(), toMs: z.number().int() }).optional(),
  /** A kline's volume is served 10 % short until `afterCloseMs` after its close; then the final value (late fills revised). */
  reviseCandles: z.strictObject({ afterCloseMs: z.number().int().min(0).max(3_600_000) }).optional(),
  /** Endpoints the faults apply to (`aggTrades`, `depth`, `klines`, `ticker/24hr`, …); all but exchangeInfo when absent. */
  endpoints: z.array(z.string()).optional(),
});
export type Faults = z.infer<typeof faultsSchema>;

export type FaultDecision =
  | { kind: 'none' }
  | { kind: 'rateLimit'; retryAfterSeconds: number }
  | { kind: 'serverError'; status: number }
  | { kind: 'malformed' }
  | { kind: 'ban'; status: number; retryAfterSeconds?: number; untilMs?: number };

/** Counts of what was injected, for the admin endpoint and tests. */
export interface FaultCounters {
  rateLimit: number;
  serverError: number;
  slow: number;
  malformed: number;
  droppedTrades: number;
  lostTrades: number;
  /** Calls answered with the ban's status. */
  banned?: number;
  /** Closed klines served with their provisional (revised later) volume. */
  provisionalCandles?: number;
}

const MAX_REMEMBERED_DROPS = 1_000_000;

export class FaultSwitches {
  private faults: Faults = {};
  private counter = 0;
  readonly counters: FaultCounters = { rateLimit: 0, serverError: 0, slow: 0, malformed: 0, droppedTrades: 0, lostTrades: 0 };
  /** Ids left out once (served again next time). */
  private readonly droppedOnce = new Set<string>();
  /** Ids never served: the emulator's record of trades that are truly lost. */
  readonly lost = new Map<string, number[]>();
  private readonly highestServed = new Map<string, number>();
  private readonly chance: (counter: number) => number;

  constructor(chance: (counter: number) => number) {
    this.chance = chance;
  }

  get(): Faults {
    return structuredClone(this.faults);
  }

  /** Replaces every fault (defaults filled in by the schema). */
  set(faults: z.input<typeof faultsSchema>): void {
    this.faults = faultsSchema.parse(faults);
    this.banUntilMs = null;
    this.frozenAtMs = null;
  }

  clear(): void {
    this.faults = {};
    this.banUntilMs = null;
    this.frozenAtMs = null;
  }

  /** Market time the `freeze` switch holds (null: not frozen yet). */
  private frozenAtMs: number | null = null;

  /** The exchange's own clock (`/time`): the host's plus `clockOffsetMs`. */
  clockTime(hostNowMs: number): number {
    return hostNowMs + (this.faults.clockOffsetMs ?? 0);
  }

  /** The instant the market is served at: the exchange's clock, or the instant `freeze` was first seen. */
  marketTime(hostNowMs: number): number {
    const t = this.clockTime(hostNowMs);
    if (!this.faults.freeze) return t;
    this.frozenAtMs ??= t;
    return this.frozenAtMs;
  }

  /** A trade or candle time as the `badTimes` switch serves it. */
  retime(ms: number): number {
    const bad = this.faults.badTimes;
    if (!bad) return ms;
    const shifted = ms + bad.shiftMs;
    return bad.seconds ? Math.floor(shifted / 1000) : shifted;
  }

  /** The `book` switch (crossed, updateIdBack), if set. */
  bookQuirks(): { crossed: boolean; updateIdBack: number } | null {
    return this.faults.book ?? null;
  }

  /** Whether the `candleHoles` switch leaves out the kline opening at `openMs`. */
  noCandle(openMs: number): boolean {
    const holes = this.faults.candleHoles;
    return holes !== undefined && openMs >= holes.fromMs && openMs <= holes.toMs;
  }

  /** Whether a kline closing at `closeMs` (its last ms) is still served provisional at `nowMs` (reviseCandles). */
  provisional(closeMs: number, nowMs: number): boolean {
    const revise = this.faults.reviseCandles;
    if (!revise || nowMs > closeMs + revise.afterCloseMs) return false;
    if (nowMs > closeMs) this.counters.provisionalCandles = (this.counters.provisionalCandles ?? 0) + 1;
    return true;
  }

  /** Wall ms the running ban ends (null: none started). */
  private banUntilMs: number | null = null;

  /** The ban's answer for this call, if one is running (started by the first call after `ban` is set). */
  private banned(nowMs: number): FaultDecision | null {
    const ban = this.faults.ban;
    if (!ban) return null;
    this.banUntilMs ??= nowMs + ban.seconds * 1000;
    if (nowMs >= this.banUntilMs) {
      delete this.faults.ban;
      this.banUntilMs = null;
      return null;
    }
    this.counters.banned = (this.counters.banned ?? 0) + 1;
    return {
      kind: 'ban',
      status: ban.status,
      retryAfterSeconds: ban.header ? Math.max(1, Math.ceil((this.banUntilMs - nowMs) / 1000)) : undefined,
      untilMs: ban.bodyUntil ? this.banUntilMs : undefined,
    };
  }

  private applies(endpoint: string): boolean {
    if (this.faults.endpoints) return this.faults.endpoints.includes(endpoint);
    return endpoint !== 'exchangeInfo';
  }

  private roll(r: number): boolean {
    return r >= 1 || this.chance(this.counter++) < r;
  }

  /** Whether a symbol (ccxt symbol or market id) is delisted by the `delist` switch. */
  delisted(symbol: string, marketId: string): boolean {
    return this.faults.delist?.some((s) => s === symbol || s === marketId) ?? false;
  }

  /** Delay to apply before answering (0 = none). */
  delayFor(endpoint: string): number {
    const slow = this.faults.slow;
    if (!slow || !this.applies(endpoint) || !this.roll(slow.ratio)) return 0;
    this.counters.slow++;
    return slow.delayMs;
  }

  /** The failure to answer with, if any; checked in order ban, 429, 5xx, malformed. */
  decide(endpoint: string, nowMs = Date.now()): FaultDecision {
    if (!this.applies(endpoint)) return { kind: 'none' };
    const ban = this.banned(nowMs);
    if (ban) return ban;
    const { rateLimit, serverError, malformed } = this.faults;
    if (rateLimit && this.roll(rateLimit.ratio)) {
      this.counters.rateLimit++;
      return { kind: 'rateLimit', retryAfterSeconds: rateLimit.retryAfterSeconds };
    }
    if (serverError && this.roll(serverError.ratio)) {
      this.counters.serverError++;
      return { kind: 'serverError', status: serverError.status };
    }
    if (malformed && this.roll(malformed.ratio)) {
      this.counters.malformed++;
      return { kind: 'malformed' };
    }
    return { kind: 'none' };
  }

  /** Filters trade ids about to be served: drops some once, loses some for good. */
  keepTrade(marketId: string, id: number, endpoint: string): boolean {
    const kept = this.decideTrade(marketId, id, endpoint);
    if (kept && id > (this.highestServed.get(marketId) ?? 0)) this.highestServed.set(marketId, id);
    return kept;
  }

  private decideTrade(marketId: string, id: number, endpoint: string): boolean {
    const key = `${marketId}:${id}`;
    const lostIds = this.lost.get(marketId);
    if (lostIds?.includes(id)) return false;
    const drop = this.faults.dropTrades;
    if (!drop || drop.ratio === 0 || !this.applies(endpoint)) return true;
    if (this.droppedOnce.has(key)) return true;
    if (!this.roll(drop.ratio)) return true;
    // Only an id never served before can be lost for good; otherwise a client may already hold it.
    if (drop.permanent && id > (this.highestServed.get(marketId) ?? 0)) {
      if (!lostIds) this.lost.set(marketId, [id]);
      else lostIds.push(id);
      this.counters.lostTrades++;
      return false;
    }
    if (this.droppedOnce.size >= MAX_REMEMBERED_DROPS) this.droppedOnce.clear();
    this.droppedOnce.add(key);
    this.counters.droppedTrades++;
    return false;
  }
}
