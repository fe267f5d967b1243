// functions/sync.ts
// Uploads the local cache to the primary, gap-checked: in stream order, verified by hash, local copy deleted only after success.

import { z } from 'zod';
import { defineFunction, type FnContext } from '../runtime/define.ts';
import { DEFAULT_TIMEFRAME } from '../runtime/collector/topics.ts';
import { spacingOfStreams } from '../runtime/sync/continuity.ts';
import { pendingInCache, runSync, SYNC_PROGRESS_SLOT, type SyncProgress } from '../runtime/sync/engine.ts';

const issueSchema = z.looseObject({ kind: z.string(), stream: z.string() });

export default defineFunction({
  name: 'sync',
  description:
    'Local cache → primary: plan, per-stream continuity check in (exchange, topic, symbol, epoch, seq) order, create-only uploads verified by hash, local copy deleted only after success; atomic objects copied when newer and different.',
  input: z
    .object({
      dry_run: z.boolean().default(false),
      concurrency: z.number().int().min(1).max(64).default(24),
      /** Bytes of bodies held in memory at once (runtime/sync/byte-budget.ts); default DEFAULT_MAX_BYTES_IN_FLIGHT (8 MiB). */
      max_bytes_in_flight: z.number().int().min(1).max(1024 * 1024 * 1024).optional(),
      max_attempts: z.number().int().min(1).max(20).default(5),
      base_delay_ms: z.number().int().min(1).max(60_000).default(200),
      max_delay_ms: z.number().int().min(1).max(300_000).default(5_000),
      chunk_items: z.number().int().min(1).default(1_000),
      /** Default: two ticks. */
      time_gap_ms: z.number().int().min(0).optional(),
    })
    .strict(),
  output: z.looseObject({
    ok: z.boolean(),
    dry_run: z.boolean(),
    reason: z.string().optional(),
    items: z.number(),
    bytes: z.number(),
    elapsed_ms: z.number(),
    issues: z.array(issueSchema),
    pending: z.boolean(),
  }),
  async run(input, ctx) {
    const state = ctx.store.state();
    if (state.primary === 'down' && !input.dry_run) {
      await ctx.audit.record('collector.sync.failed', { reason: 'primary_down', items: 0, bytes: 0, elapsed_ms: 0 });
      return { ok: false, dry_run: false, reason: 'primary_down', items: 0, bytes: 0, elapsed_ms: 0, issues: [], pending: true };
    }
    const summary = await runSync(
      { primary: ctx.store.primary, cache: ctx.store.secondary, audit: ctx.audit, log: ctx.log },
      {
        dryRun: input.dry_run,
        concurrency: input.concurrency,
        maxBytesInFlight: input.max_bytes_in_flight,
        retry: { maxAttempts: input.max_attempts, baseDelayMs: input.base_delay_ms, maxDelayMs: input.max_delay_ms },
        chunkItems: input.chunk_items,
        timeGapMs: input.time_gap_ms ?? 2 * ctx.config.collector.tickSeconds * 1000,
        spacingMs: spacingOfStreams(ctx.config.collector.streams, DEFAULT_TIMEFRAME),
        signal: ctx.signal,
        onProgress: progressListener(ctx),
      },
    );
    if (input.dry_run) return { ...summary, pending: ctx.store.state().syncPending };
    ctx.metrics?.recordSync({ ok: summary.ok, items: summary.items, bytes: summary.bytes, elapsedMs: summary.elapsed_ms });
    // Still pending when the run stopped early, when something is left, or when the NAS went down
    // again meanwhile (new writes are landing in the cache).
    const pending =
      summary.reason !== undefined || (await pendingInCache(ctx.store.secondary)) > 0 || ctx.store.state().primary === 'down';
    ctx.store.setSyncPending(pending);
    await ctx.status
      .update((doc) => {
        doc.sync.pending = pending;
        doc.sync.last = { at: new Date(ctx.clock.now()).toISOString(), items: summary.items, bytes: summary.bytes, ok: summary.ok };
      })
      .catch((err) => ctx.log.warn({ err: String(err) }, 'status update after sync failed'));
    return { ...summary, pending };
  },
});

function progressListener(ctx: FnContext): ((p: SyncProgress) => void) | undefined {
  return ctx.local.get(SYNC_PROGRESS_SLOT);
}
