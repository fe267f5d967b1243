// runtime/http/coverage-strip.ts
// Each stream card's coverage strip: the last 7 UTC days of coverage from quality/dt=<date>/summary.json, read again at most once a minute.

import { isoDate } from '../clock.ts';
import { coverageOfDays, type CoverageRow } from '../dashboard-export/quality-dataset.ts';
import type { ObjectStore } from '../store/types.ts';
import { symbolKey } from '../keys.ts';
import type { CoverageDay } from './charts.tsx';
import { streamKeyOf } from './records-today.ts';

/** Quality summaries are written once a day: the strip reads them again at most this often. */
const COVERAGE_REREAD_MS = 60_000;
const DAY_MS = 86_400_000;

/** One per dashboard: the summaries of the last 7 days as last read. */
export class CoverageStrip {
  private coverageCache: { at: number; today: string; rows: CoverageRow[] } | null = null;

  constructor(private readonly store: ObjectStore) {}

  /** The last 7 days of each stream's coverage (oldest first); a day without a summary has ratio null. */
  async days(streams: Array<{ exchange: string; topic: string; symbol: string }>, now: number): Promise<Map<string, CoverageDay[]>> {
    const dates = Array.from({ length: 7 }, (_, i) => isoDate(now - (6 - i) * DAY_MS));
    const today = dates[6]!;
    if (!this.coverageCache || this.coverageCache.today !== today || now - this.coverageCache.at >= COVERAGE_REREAD_MS) {
      this.coverageCache = { at: now, today, rows: await coverageOfDays(this.store, dates) };
    }
    const rows = this.coverageCache.rows;
    const out = new Map<string, CoverageDay[]>();
    for (const s of streams) {
      const name = `${s.exchange}/${s.topic}/${symbolKey(s.symbol)}`;
      out.set(
        streamKeyOf(s),
        dates.map((date) => {
          const r = rows.find((x) => x.date === date && x.stream === name);
          return r
            ? { date, ratio: r.coverage_ratio, threshold: r.coverage_threshold, lostGaps: r.gaps_missed + r.gaps_unfillable }
            : { date, ratio: null, threshold: null, lostGaps: 0 };
        }),
      );
    }
    return out;
  }
}
