// runtime/emulator/served.ts
// What the emulator served, per dialect and market: the reference a soak compares the primary store against.

/** One served trade: its key (aggregate `a:f-l`, or the trade id) and exchange time (ms). */
export interface ServedTrade {
  key: string;
  ts: number;
}

/** Every trade record the emulator served, first time seen, keyed by dialect → market → record key. */
export class ServedLog {
  private readonly byStream = new Map<string, Map<string, number>>();

  record(dialect: string, market: string, trades: ServedTrade[]): void {
    const name = `${dialect}/${market}`;
    let seen = this.byStream.get(name);
    if (!seen) this.byStream.set(name, (seen = new Map()));
    for (const t of trades) if (!seen.has(t.key)) seen.set(t.key, t.ts);
  }

  /** Served records of one dialect and market: key → exchange time (ms). */
  of(dialect: string, market: string): Map<string, number> {
    return this.byStream.get(`${dialect}/${market}`) ?? new Map();
  }

  streams(): string[] {
    return [...this.byStream.keys()];
  }
}
