// runtime/emulator/book.ts
// The emulator's order book at an update id (= the last trade id): the levels REST /depth serves, for the WebSocket diffs.

import { fixed, type MarketModel, type SymbolSpec } from './market.ts';

export type Level = [string, string];

/**
 * The book after update `updateId`: `levels` bids below and asks above the mid of that trade, one
 * tick apart, as runtime/emulator/binance.ts `/api/v3/depth` serves it (without its quirk faults;
 * test/collector.ws-book.test.ts checks the two agree).
 */
export function bookAt(model: MarketModel, spec: SymbolSpec, updateId: number, levels: number): { bids: Level[]; asks: Level[] } {
  const mid = model.price(spec, updateId);
  const level = (side: number, i: number): Level => [
    fixed(mid + side * spec.tickSize * (i + 1), spec.tickSize),
    fixed(model.quantity(spec, updateId, i * 2 + (side > 0 ? 1 : 0)), spec.stepSize),
  ];
  return { bids: Array.from({ length: levels }, (_, i) => level(-1, i)), asks: Array.from({ length: levels }, (_, i) => level(1, i)) };
}

/**
 * Binance diff levels for a window of books (`window`: the book before the window and every one
 * inside it) ending in `final`: every level of `final` unless all books of the window had it with
 * that same amount, and "0" for every price some book of the window had that `final` lacks. A client
 * whose book is any one of the window's gets `final` by applying it.
 */
export function diffLevels(window: Level[][], final: Level[], step: number): Level[] {
  const seen = new Map<string, { books: number; qtys: Set<string> }>();
  for (const book of window) {
    for (const [price, qty] of book) {
      const entry = seen.get(price) ?? { books: 0, qtys: new Set<string>() };
      entry.books++;
      entry.qtys.add(qty);
      seen.set(price, entry);
    }
  }
  const out: Level[] = [];
  const finalPrices = new Set<string>();
  for (const [price, qty] of final) {
    finalPrices.add(price);
    const entry = seen.get(price);
    if (!entry || entry.books < window.length || entry.qtys.size > 1 || !entry.qtys.has(qty)) out.push([price, qty]);
  }
  for (const price of seen.keys()) if (!finalPrices.has(price)) out.push([price, fixed(0, step)]);
  return out;
}
