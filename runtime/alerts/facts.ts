// runtime/alerts/facts.ts
// What the alert rules read beyond the context, measured once per check: the cache backlog, the disk's free space and the NAS capacity forecast.

import type { FnContext } from '../define.ts';
import { capacityReport, COMPACT_LAST_SLOT } from '../lake/capacity.ts';
import { defineSlot } from '../local-slots.ts';
import { measureBacklog } from '../store/backlog.ts';

/** Everything the rules read that is not in the context itself (measured once per check). */
export interface Facts {
  now: number;
  backlog: { objects: number; bytes: number; capped: boolean } | null;
  disk: { free_bytes: number; total_bytes: number } | null;
  /** The primary's capacity forecast (null: rule off, not the holder, no storage.capacityBytes, or not measured yet). */
  capacity: CapacityFact | null;
}

/** The forecast the nas_full rule reads: `at` is the wall ms of the bucket listing it comes from. */
export interface CapacityFact {
  at: number;
  total_bytes: number;
  capacity_bytes: number;
  growth_bytes_per_day: number;
  days_until_full: number | null;
  full_at: string | null;
}

/** The newest NAS capacity forecast: written and read only by capacityFact (the nasFull rule). */
const CAPACITY_SLOT = defineSlot<CapacityFact>('alerts:capacity');

/** Measures the facts of the enabled rules: the cache backlog, the disk, and (on the lease holder) the NAS capacity forecast. Never throws for a failed measure: it is null. */
export async function gatherFacts(ctx: FnContext): Promise<Facts> {
  const rules = ctx.config.alerts.rules;
  const backlog = rules.cacheBacklog.enabled ? await measureBacklog(ctx.store.cache).catch(() => null) : null;
  const disk = rules.diskFree.enabled ? ((await ctx.disk?.read()) ?? null) : null;
  const capacity = rules.nasFull.enabled && ctx.lease.holder ? await capacityFact(ctx) : null;
  return { now: ctx.clock.now(), backlog, disk, capacity };
}

/**
 * The newest capacity forecast this process has: the compact duty's (it lists the bucket once a
 * day), else its own listing of the primary, repeated at most every `measureEverySeconds`. A
 * failed listing (primary down) keeps the previous forecast; the first failure leaves none.
 */
async function capacityFact(ctx: FnContext): Promise<CapacityFact | null> {
  const capacityBytes = ctx.config.storage.capacityBytes;
  if (capacityBytes === undefined) return null;
  const now = ctx.clock.now();
  let fact = ctx.local.get(CAPACITY_SLOT);
  const compacted = ctx.local.get(COMPACT_LAST_SLOT);
  if (compacted?.capacity && (!fact || compacted.at > fact.at)) {
    fact = { at: compacted.at, capacity_bytes: capacityBytes, ...compacted.capacity };
    ctx.local.set(CAPACITY_SLOT, fact);
  }
  if (!fact || now - fact.at >= ctx.config.alerts.rules.nasFull.measureEverySeconds * 1000) {
    const report = await capacityReport(ctx.store.primary, { now, capacityBytes }).catch(() => null);
    if (report) {
      fact = { at: now, total_bytes: report.total_bytes, capacity_bytes: capacityBytes, growth_bytes_per_day: report.growth_bytes_per_day, days_until_full: report.days_until_full, full_at: report.full_at };
      ctx.local.set(CAPACITY_SLOT, fact);
    }
  }
  return fact ?? null;
}
