// functions/compact.ts
// The `compact` duty: raw segments of closed UTC days → one verified Parquet object per stream-day, then retention of verified raw days.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { BtcError } from '../runtime/errors.ts';
import { capacityReport, COMPACT_LAST_SLOT, type CompactLast } from '../runtime/lake/capacity.ts';
import { compactAll } from '../runtime/lake/compact.ts';
import { makeScratch, removeScratch } from '../runtime/lake/duck.ts';
import { dayStart, parseStreamName } from '../runtime/lake/layout.ts';
import { applyRetention, type RetentionReport } from '../runtime/lake/retention.ts';

const dayResult = z.object({
  stream: z.string(), date: z.string(), action: z.string(), reason: z.string(), elapsed_ms: z.number(),
  rows: z.number(), records_in: z.number(), dropped: z.number(), sources: z.number(), raw_bytes: z.number(),
  parquet_bytes: z.number().nullable(), error: z.string().optional(),
});

export default defineFunction({
  name: 'compact',
  description: 'Compact raw segments of closed UTC days into one verified zstd Parquet object per stream-day (late segments recompact their day), then delete raw days past retention.rawDays whose Parquet is verified. dry_run: plan and account only.',
  input: z
    .object({
      date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional().describe('only this UTC day (YYYY-MM-DD)'),
      streams: z.array(z.string()).default([]).describe('only these streams, e.g. binance/trades/BTC-USDT (default: every stream)'),
      dry_run: z.boolean().default(false).describe('plan and account only: nothing is written or deleted'),
      /** Recompact the chosen days even when their manifest lists every segment. */
      force: z.boolean().default(false).describe('recompact the chosen days even when nothing changed'),
      /** Skip retention (compaction only). */
      no_retention: z.boolean().default(false).describe('compact only; delete no raw segment'),
    })
    .strict(),
  output: z.object({
    ok: z.boolean(),
    dry_run: z.boolean(),
    skipped: z.string().nullable(),
    planned: z.number(),
    failed: z.number(),
    days: z.array(dayResult),
    retention: z.unknown().nullable(),
    capacity: z.object({ total_bytes: z.number(), growth_bytes_per_day: z.number(), days_until_full: z.number().nullable(), full_at: z.string().nullable() }).nullable().optional(),
  }),
  async run(input, ctx) {
    // Compaction reads and writes the primary only: while it is down the raw data waits in the cache.
    if (ctx.store.state().primary === 'down') return { ok: true, dry_run: input.dry_run, skipped: 'primary_down', planned: 0, failed: 0, days: [], retention: null };
    if (input.date) dayStart(input.date); // InvalidInput for a non-date
    const streams = input.streams.map(parseStreamName);
    const store = ctx.store.primary;
    const scratch = await makeScratch(path.join(ctx.paths.dataDir, 'scratch'), 'compact');
    try {
      const report = await compactAll({
        store, scratchDir: scratch, dryRun: input.dry_run, now: () => ctx.clock.now(),
        graceMs: ctx.config.compaction.graceMinutes * 60_000, streams, dates: input.date ? [input.date] : undefined, force: input.force,
        onStep: holdAt(ctx.paths.dataDir),
      });
      const compacted = report.days.filter((d) => d.action === 'compacted');
      if (!input.dry_run && compacted.length) {
        await ctx.audit.record('compact.complete', {
          days: compacted.length,
          rows: compacted.reduce((n, d) => n + d.rows, 0),
          dropped: compacted.reduce((n, d) => n + d.dropped, 0),
          raw_bytes: compacted.reduce((n, d) => n + d.raw_bytes, 0),
          parquet_bytes: compacted.reduce((n, d) => n + (d.parquet_bytes ?? 0), 0),
          stream_days: compacted.map((d) => `${d.stream}@${d.date}${d.reason === 'new' ? '' : ` (${d.reason})`}`),
        });
      }
      for (const d of report.days.filter((x) => x.action === 'failed')) {
        ctx.log.error({ stream: d.stream, date: d.date, error: d.error }, 'compaction of a stream-day failed');
        if (!input.dry_run) await ctx.audit.record('compact.failed', { stream: d.stream, date: d.date, reason: d.reason, error: d.error });
      }
      let retention: RetentionReport | null = null;
      if (!input.no_retention) {
        const r = await applyRetention({ store, now: ctx.clock.now(), rawDays: ctx.config.retention.rawDays, parquetDays: ctx.config.retention.parquetDays, dryRun: input.dry_run });
        if (!input.dry_run && r.deleted_objects > 0) {
          await ctx.audit.record('retention.delete', {
            raw_days: r.raw_days, parquet_days: r.parquet_days, objects: r.deleted_objects, bytes: r.deleted_bytes, kept_unverified: r.kept_unverified,
            groups: r.groups.filter((g) => g.deleted > 0).map((g) => ({ kind: g.kind, stream: g.stream, date: g.date, objects: g.deleted, bytes: g.bytes })),
          });
        }
        retention = r;
      }
      if (!input.dry_run && report.failed === 0) ctx.metrics?.compactLastSuccess.set(ctx.clock.now() / 1000);
      // The forecast on /metrics (btc_ts_storage_days_until_full): one listing of the bucket a run.
      let capacity = null;
      if (!input.dry_run && ctx.metrics) {
        capacity = await capacityReport(store, { now: ctx.clock.now(), capacityBytes: ctx.config.storage.capacityBytes });
        ctx.metrics.recordCapacity(capacity);
      }
      if (!input.dry_run) {
        const last: CompactLast = {
          at: ctx.clock.now(), ok: report.failed === 0, compacted: compacted.length, failed: report.failed, rows: compacted.reduce((n, d) => n + d.rows, 0),
          raw_deleted: retention ? retention.deleted_objects : null,
          capacity: capacity && { total_bytes: capacity.total_bytes, growth_bytes_per_day: capacity.growth_bytes_per_day, days_until_full: capacity.days_until_full, full_at: capacity.full_at, compression_ratio: capacity.compression_ratio },
        };
        ctx.local.set(COMPACT_LAST_SLOT, last);
      }
      return {
        ok: report.failed === 0, dry_run: input.dry_run, skipped: null, planned: report.planned, failed: report.failed, days: report.days, retention,
        capacity: capacity && { total_bytes: capacity.total_bytes, growth_bytes_per_day: capacity.growth_bytes_per_day, days_until_full: capacity.days_until_full, full_at: capacity.full_at },
      };
    } catch (err) {
      if (!input.dry_run) await ctx.audit.record('compact.failed', { error: err instanceof Error ? err.message : String(err) });
      throw err instanceof BtcError ? err : new BtcError('Internal', `compact: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      await removeScratch(scratch);
    }
  },
});

/**
 * Test hook for the crash tests: with BTC_TS_TEST_COMPACT_HOLD_AT=<step> (downloaded, written,
 * uploaded, verified) the run writes `<dataDir>/compact-held-<step>` at that step of its first
 * stream-day and waits there until the process is killed.
 */
function holdAt(dataDir: string): ((step: string) => Promise<void>) | undefined {
  const step = process.env.BTC_TS_TEST_COMPACT_HOLD_AT;
  if (!step) return undefined;
  return async (reached) => {
    if (reached !== step) return;
    // Written aside and renamed: the test polls for the marker and must never read it half-written.
    const marker = path.join(dataDir, `compact-held-${step}`);
    await fsp.writeFile(`${marker}.tmp`, String(process.pid));
    await fsp.rename(`${marker}.tmp`, marker);
    await new Promise(() => setInterval(() => undefined, 60_000));
  };
}
