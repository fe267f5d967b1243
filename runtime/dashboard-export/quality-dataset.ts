// runtime/dashboard-export/quality-dataset.ts
// The `coverage` dashboard dataset and the page's coverage strip: one row per (UTC day, stream) from quality/dt=*/summary.json.

import { z } from 'zod';
import { listAll, type ObjectStore } from '../store/types.ts';
import { readJson } from './manifest.ts';
import { GAP_KINDS } from './quality-gaps.ts';
import { mapLimit } from '../async.ts';
import { READ_CONCURRENCY } from './raw-objects.ts';
import { QUALITY_PREFIX, QUALITY_SUMMARY_PATTERN, qualitySummaryKey } from '../keys.ts';

const summarySchema = z.looseObject({
  date: z.string(),
  coverage_threshold: z.number(),
  generated_at: z.string(),
  streams: z.array(
    z.looseObject({
      stream: z.string(),
      coverage_ratio: z.number().nullable(),
      expected: z.number(),
      seen: z.number(),
      unit: z.string(),
      below_threshold: z.boolean(),
      gaps: z.looseObject(Object.fromEntries(GAP_KINDS.map((k) => [k, z.number()])) as Record<(typeof GAP_KINDS)[number], z.ZodNumber>),
    }),
  ),
});

export interface CoverageRow {
  date: string;
  stream: string;
  unit: string;
  coverage_ratio: number | null;
  expected: number;
  seen: number;
  coverage_threshold: number;
  below_threshold: boolean;
  gaps_missed: number;
  gaps_unfillable: number;
  gaps_exchange_had_none: number;
  gaps_suspected: number;
  generated_at: string;
}

function rowsOf(doc: z.output<typeof summarySchema>): CoverageRow[] {
  return doc.streams.map((s) => ({
    date: doc.date,
    stream: s.stream,
    unit: s.unit,
    coverage_ratio: s.coverage_ratio,
    expected: s.expected,
    seen: s.seen,
    coverage_threshold: doc.coverage_threshold,
    below_threshold: s.below_threshold,
    gaps_missed: s.gaps.missed,
    gaps_unfillable: s.gaps.unfillable,
    gaps_exchange_had_none: s.gaps.exchange_had_none,
    gaps_suspected: s.gaps.suspected,
    generated_at: doc.generated_at,
  }));
}

/** Every stored day's summary as rows, sorted by date then stream; unreadable summaries are listed in `skipped`. */
export async function coverageRows(store: ObjectStore): Promise<{ rows: CoverageRow[]; skipped: string[] }> {
  const keys: string[] = [];
  for await (const info of listAll(store, QUALITY_PREFIX)) if (QUALITY_SUMMARY_PATTERN.test(info.key)) keys.push(info.key);
  const docs = await mapLimit(keys, READ_CONCURRENCY, (key) => readJson(store, key, summarySchema));
  const skipped = keys.filter((_, i) => !docs[i]!.doc);
  const rows = docs.flatMap((d) => (d.doc ? rowsOf(d.doc) : []));
  rows.sort((a, b) => a.date.localeCompare(b.date) || a.stream.localeCompare(b.stream));
  return { rows, skipped };
}

/** The summaries of the given days (absent or unreadable days are left out): the page's 7-day strip. */
export async function coverageOfDays(store: ObjectStore, dates: string[]): Promise<CoverageRow[]> {
  const docs = await mapLimit(dates, READ_CONCURRENCY, (date) => readJson(store, qualitySummaryKey(date), summarySchema));
  return docs.flatMap((d) => (d.doc ? rowsOf(d.doc) : []));
}
