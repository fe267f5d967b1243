// functions/data-quality.ts
// The daily data-quality check (seed 003): coverage_ratio and gap inventory of one UTC day, stored under quality/dt=<date>/.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { parseQualityDate, runQuality } from '../runtime/dashboard-export/quality-run.ts';

export default defineFunction({
  name: 'data-quality',
  description:
    'Judge one UTC day (default yesterday) per configured stream: coverage_ratio (polled ticks, closed candles, trade id continuity) and the gap inventory (missed, unfillable, exchange_had_none, suspected); store quality/dt=<date>/summary.json and gap_inventory.csv; below the threshold POST data_quality_failure to the webhooks.',
  input: z
    .object({
      date: z
        .string()
        .refine((d) => {
          try {
            return parseQualityDate(d) === d;
          } catch {
            return false;
          }
        }, 'a UTC day YYYY-MM-DD')
        .optional().describe('UTC day to judge, YYYY-MM-DD (default yesterday; today judges up to now)'),
      coverage_threshold: z.number().min(0).max(1).optional().describe('fail below this coverage_ratio (default quality.coverageThreshold, 0.95)'),
    })
    .strict(),
  output: z.looseObject({
    date: z.string(),
    status: z.enum(['ok', 'below_threshold']),
    below: z.array(z.string()),
    streams: z.array(z.looseObject({ stream: z.string(), coverage_ratio: z.number().nullable() })),
  }),
  async run(input, ctx) {
    return runQuality(ctx, { date: input.date, threshold: input.coverage_threshold });
  },
});
