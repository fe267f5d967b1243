// runtime/collector/ws/book.ts
// A local order book from a snapshot plus Binance diffs (U/u update ids), and the rebuild of any moment from the stored records.

/** A price level: [price, amount]. */
export type BookLevel = [number, number];

/** Stored order book records of a ws stream (`data` of each raw record). */
export type BookRecord =
  | { type: 'snapshot'; update_id: number; reason: 'sync' | 'resync' | 'periodic'; bids: BookLevel[]; asks: BookLevel[] }
  | { type: 'diff'; U: number; u: number; bids: BookLevel[]; asks: BookLevel[] };

export class LocalBook {
  readonly bids = new Map<number, number>();
  readonly asks = new Map<number, number>();
  updateId: number;

  constructor(snapshot: { update_id: number; bids: BookLevel[]; asks: BookLevel[] }) {
    this.updateId = snapshot.update_id;
    for (const [p, q] of snapshot.bids) if (q > 0) this.bids.set(p, q);
    for (const [p, q] of snapshot.asks) if (q > 0) this.asks.set(p, q);
  }

  /** Applies one diff: an amount of 0 removes the level (Binance). Does not check the sequence. */
  apply(diff: { u: number; bids: BookLevel[]; asks: BookLevel[] }): void {
    for (const [p, q] of diff.bids) q > 0 ? this.bids.set(p, q) : this.bids.delete(p);
    for (const [p, q] of diff.asks) q > 0 ? this.asks.set(p, q) : this.asks.delete(p);
    this.updateId = diff.u;
  }

  /** Keeps the best `depth` levels per side. */
  trim(depth: number): void {
    for (const [side, desc] of [[this.bids, true], [this.asks, false]] as const) {
      if (side.size <= depth) continue;
      const keep = new Set(levels(side, desc, depth).map(([p]) => p));
      for (const p of side.keys()) if (!keep.has(p)) side.delete(p);
    }
  }

  crossed(): boolean {
    const bid = levels(this.bids, true, 1)[0];
    const ask = levels(this.asks, false, 1)[0];
    return bid !== undefined && ask !== undefined && bid[0] >= ask[0];
  }

  top(depth: number): { bids: BookLevel[]; asks: BookLevel[] } {
    return { bids: levels(this.bids, true, depth), asks: levels(this.asks, false, depth) };
  }
}

function levels(side: Map<number, number>, descending: boolean, depth: number): BookLevel[] {
  return [...side.entries()].sort((a, b) => (descending ? b[0] - a[0] : a[0] - b[0])).slice(0, depth);
}

/**
 * The book after the last of `records` (in seq order): from the newest snapshot, every later diff
 * applied in order. Throws when a diff does not continue the sequence (U > previous u + 1), which
 * a stored stream never has: a break is followed by a `resync` snapshot. Null without a snapshot.
 */
export function rebuildBook(records: BookRecord[], depth: number): { updateId: number; bids: BookLevel[]; asks: BookLevel[] } | null {
  let start = -1;
  for (let i = records.length - 1; i >= 0; i--) if (records[i]!.type === 'snapshot') (start = i), (i = -1);
  if (start < 0) return null;
  const book = new LocalBook(records[start] as Extract<BookRecord, { type: 'snapshot' }>);
  for (const r of records.slice(start + 1)) {
    if (r.type !== 'diff' || r.u <= book.updateId) continue;
    // The first diff after a snapshot may straddle it (Binance: U ≤ lastUpdateId + 1 ≤ u).
    if (r.U > book.updateId + 1) throw new Error(`diff ${r.U}–${r.u} does not follow update ${book.updateId}`);
    book.apply(r);
    book.trim(depth);
  }
  return { updateId: book.updateId, ...book.top(depth) };
}
