// runtime/emulator/market.ts
// The emulator's deterministic market: trade ids, times, prices and sizes are pure functions of (seed, symbol, id).

/** Trade ids count from this instant, so ids stay the same across emulator restarts (cursors remain valid). */
export const EMULATOR_EPOCH_MS = Date.UTC(2024, 0, 1);

export interface SymbolSpec {
  /** ccxt symbol, e.g. `BTC/USDT`. */
  symbol: string;
  base: string;
  quote: string;
  /** Price level the path wanders around. */
  basePrice: number;
  tickSize: number;
  stepSize: number;
  /** Aggregate trades per second, constant: aggregate k happens at EPOCH + (k-1)·1000/rate ms. */
  tradesPerSecond: number;
  /** Fills (real trades) per aggregate trade: 1 to this many, seeded per aggregate (default 1). */
  maxFills?: number;
}

export const DEFAULT_SYMBOLS: SymbolSpec[] = [
  { symbol: 'BTC/USDT', base: 'BTC', quote: 'USDT', basePrice: 65_000, tickSize: 0.01, stepSize: 0.00001, tradesPerSecond: 8 },
  { symbol: 'ETH/USDT', base: 'ETH', quote: 'USDT', basePrice: 3_200, tickSize: 0.01, stepSize: 0.0001, tradesPerSecond: 5 },
  { symbol: 'ETH/BTC', base: 'ETH', quote: 'BTC', basePrice: 0.05, tickSize: 0.00001, stepSize: 0.0001, tradesPerSecond: 2 },
];

export interface AggTrade {
  a: number;
  p: string;
  q: string;
  f: number;
  l: number;
  T: number;
  m: boolean;
  M: boolean;
}

/** Exchange-style id: `BTC/USDT` → `BTCUSDT`. */
export const marketIdOf = (spec: SymbolSpec) => `${spec.base}${spec.quote}`;

/** Fill counts repeat every FILL_PERIOD aggregates, so an aggregate's first fill id is a closed form. */
const FILL_PERIOD = 16;

export class MarketModel {
  readonly specs: SymbolSpec[];
  private readonly byId = new Map<string, SymbolSpec>();
  private readonly salt = new Map<string, number>();
  /** Per market: fills of the FILL_PERIOD aggregates of one period, their prefix sums and total. */
  private readonly fillPattern = new Map<string, { counts: number[]; prefix: number[]; total: number }>();
  private readonly seed: number;

  constructor(seed: number, specs: SymbolSpec[] = DEFAULT_SYMBOLS) {
    this.seed = seed >>> 0;
    this.specs = specs;
    for (const spec of specs) {
      this.byId.set(marketIdOf(spec), spec);
      const salt = hashString(`${seed}:${spec.symbol}`);
      this.salt.set(marketIdOf(spec), salt);
      const maxFills = Math.max(1, Math.floor(spec.maxFills ?? 1));
      const counts = Array.from({ length: FILL_PERIOD }, (_, i) => 1 + (mix(salt ^ 0x3c6ef372, i) % maxFills));
      const prefix = counts.map((_, i) => counts.slice(0, i).reduce((a, b) => a + b, 0));
      this.fillPattern.set(marketIdOf(spec), { counts, prefix, total: counts.reduce((a, b) => a + b, 0) });
    }
  }

  /** Fills (real trade ids) of aggregate `id`: `first`..`last`, contiguous across aggregates, starting at 1. */
  fills(spec: SymbolSpec, id: number): { first: number; last: number } {
    const pattern = this.fillPattern.get(marketIdOf(spec))!;
    const period = Math.floor((id - 1) / FILL_PERIOD);
    const at = (id - 1) % FILL_PERIOD;
    const first = 1 + period * pattern.total + pattern.prefix[at]!;
    return { first, last: first + pattern.counts[at]! - 1 };
  }

  /** Real trades (fills) of the aggregates `fromId`..`toId` (0 when the range is empty). */
  fillCount(spec: SymbolSpec, fromId: number, toId: number): number {
    return toId < fromId ? 0 : this.fills(spec, toId).last - this.fills(spec, fromId).first + 1;
  }

  spec(marketId: string): SymbolSpec | undefined {
    return this.byId.get(marketId);
  }

  /** Time of trade `id` (ms). */
  tradeTime(spec: SymbolSpec, id: number): number {
    return EMULATOR_EPOCH_MS + Math.floor(((id - 1) * 1000) / spec.tradesPerSecond);
  }

  /** The newest trade id whose time is ≤ `now`. */
  lastTradeId(spec: SymbolSpec, now: number): number {
    return Math.floor(((now - EMULATOR_EPOCH_MS) * spec.tradesPerSecond) / 1000) + 1;
  }

  /** The first trade id whose time is ≥ `t`. */
  firstTradeIdAtOrAfter(spec: SymbolSpec, t: number): number {
    let id = Math.max(1, Math.ceil(((t - EMULATOR_EPOCH_MS) * spec.tradesPerSecond) / 1000) + 1);
    while (id > 1 && this.tradeTime(spec, id - 1) >= t) id--;
    while (this.tradeTime(spec, id) < t) id++;
    return id;
  }

  /** Mid price around trade `id`: two slow waves plus seeded noise, rounded to the tick. */
  price(spec: SymbolSpec, id: number): number {
    const salt = this.salt.get(marketIdOf(spec))!;
    const perHour = spec.tradesPerSecond * 3600;
    const phase = (salt % 1000) / 159.15;
    const drift = 0.02 * Math.sin((2 * Math.PI * id) / (perHour * 6) + phase) + 0.004 * Math.sin((2 * Math.PI * id) / (perHour / 12) + 2 * phase);
    const noise = 0.0004 * (unit(mix(salt, id)) * 2 - 1);
    return roundTo(spec.basePrice * Math.exp(drift + noise), spec.tickSize);
  }

  quantity(spec: SymbolSpec, id: number, salt = 0): number {
    const steps = 1 + Math.floor(unit(mix(this.salt.get(marketIdOf(spec))! ^ 0x5bd1e995 ^ salt, id)) * 2000);
    return roundTo(steps * spec.stepSize, spec.stepSize);
  }

  /** Whether the buyer was the maker (the taker sold). */
  buyerMaker(spec: SymbolSpec, id: number): boolean {
    return (mix(this.salt.get(marketIdOf(spec))! ^ 0x27d4eb2d, id) & 1) === 1;
  }

  aggTrade(spec: SymbolSpec, id: number): AggTrade {
    const { first, last } = this.fills(spec, id);
    return {
      a: id,
      p: fixed(this.price(spec, id), spec.tickSize),
      q: fixed(this.quantity(spec, id), spec.stepSize),
      f: first,
      l: last,
      T: this.tradeTime(spec, id),
      m: this.buyerMaker(spec, id),
      M: true,
    };
  }

  /** Deterministic pseudo-random number in [0, 1) for fault decisions (seeded, per call counter). */
  chance(counter: number): number {
    return unit(mix(this.seed ^ 0x9e3779b9, counter));
  }
}

/** Deterministic number in [0, 1) for (salt, id): the same id always gets the same answer. */
export function unitHash(salt: number, id: number): number {
  return unit(mix(salt >>> 0, id));
}

/** Number → decimal string with as many places as the step has. */
export function fixed(value: number, step: number): string {
  return value.toFixed(decimalsOf(step));
}

function decimalsOf(step: number): number {
  const text = step.toString();
  if (text.includes('e-')) return Number(text.split('e-')[1]);
  return text.includes('.') ? text.split('.')[1]!.length : 0;
}

function roundTo(value: number, step: number): number {
  return Number((Math.round(value / step) * step).toFixed(decimalsOf(step)));
}

/** FNV-1a of a string (seeds and salts). */
export function hashString(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A 32-bit avalanche mix of (salt, id) where id may exceed 2^32. */
function mix(salt: number, id: number): number {
  let h = (salt ^ (id >>> 0)) >>> 0;
  h = Math.imul(h ^ Math.floor(id / 4294967296), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function unit(h: number): number {
  return h / 4294967296;
}
