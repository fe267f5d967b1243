// functions/sync.ts
// Uploads the local cache to the primary, gap-checked: in stream order, verified by hash, local copy deleted only after success.

import { z } from 'zod';
import { defineFunction, type FnContext } from '../runtime/define.ts';
import { spacingOfStreams } from '../runtime/sync/continuity.ts';
import { pendingInCache, runSync, SYNC_PROGRESS_SLOT, type SyncProgress } from '../runtime/sync/engine.ts';

const issueSchema = z.looseObject({ kind: z.string(), stream: z.string() });

export default defineFunction({
  name: 'sync',
  description:
    'Local cache → primary: plan, per-stream continuity check in (exchange, topic, symbol, epoch, seq) order, create-only uploads verified by hash, local copy deleted only after success; atomic objects copied when newer and different.',
  input: z
    .object({
      dry_run: z.boolean().default(false).describe('plan and check continuity only: nothing is uploaded or deleted'),
      concurrency: z.number().int().min(1).max(64).default(24).describe('uploads in flight at once'),
      max_bytes_in_flight: z.number().int().min(1).max(1024 * 1024 * 1024).optional().describe('bytes of segment bodies held in memory at once (default 8 MiB, DEFAULT_MAX_BYTES_IN_FLIGHT in runtime/sync/byte-budget.ts)'),
      max_attempts: z.number().int().min(1).max(20).default(5).describe('tries per upload, the first included (only an unavailable primary is retried)'),
      base_delay_ms: z.number().int().min(1).max(60_000).default(200).describe('first retry delay (ms), doubled per attempt'),
      max_delay_ms: z.number().int().min(1).max(300_000).default(5_000).describe('longest retry delay (ms)'),
      chunk_items: z.number().int().min(1).default(1_000).describe('audit collector.sync.chunk every this many items uploaded'),
      /** Default: two ticks. */
      time_gap_ms: z.number().int().min(0).optional().describe('a time gap (ms) in a stream longer than this is a continuity issue (default two collector ticks)'),
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
    // Loaded on the first run, not at start: collector/topics.ts pulls ccxt (about a second to import).
    const { DEFAULT_TIMEFRAME } = await import('../runtime/collector/topics.ts');
    const summary = await runSync(
      { primary: ctx.store.primary, cache: ctx.store.cache, audit: ctx.audit, log: ctx.log },
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
      summary.reason !== undefined || (await pendingInCache(ctx.store.cache)) > 0 || ctx.store.state().primary === 'down';
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
