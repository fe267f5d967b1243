// runtime/diag-reasons.ts
// Why this host is in DIAG: a list of reasons (failing streams, NAS outage, failed sync, lost lease, full disk); PROD again once the list is empty.

import type { FnContext } from './define.ts';
import { defineSlot } from './local-slots.ts';

/**
 * The reasons known today. `streams` is raised by the collector (runtime/collector/mode.ts), the
 * others by evaluateDiag; `disk_full` slots in the same way (raiseDiag / clearDiag).
 */
export type DiagReasonId = 'streams' | 'nas_outage' | 'sync_failed' | 'lease_lost' | 'disk_full' | (string & {});

export interface DiagReason {
  id: DiagReasonId;
  /** Wall-clock ms when the reason was raised. */
  since: number;
  /** One line for the operator (masked before it reaches the audit). */
  detail: string;
}

interface DiagBook {
  reasons: Map<string, DiagReason>;
  /** DIAG was entered through this list (it lifts only its own DIAG, never one forced by BTC_TS_MODE). */
  owned: boolean;
}

/** The DIAG reason list: written by raiseDiag / clearDiag, read by diagReasons / diagOwned (status, page, alert rules). */
const BOOK_SLOT = defineSlot<DiagBook>('diag:reasons');
/**
 * heldSince's family: condition name → wall ms since which it has held. Written and read only by
 * heldSince; the names are computed by its callers (evaluateDiag, the alert rules in
 * runtime/alerts/rules.ts, e.g. `alerts:stream-seen/<stream>`).
 */
const HELD_SINCE_SLOT = defineSlot<Map<string, number>>('diag:held-since');
/** heldSince name: when the primary was first seen down (wall ms), shared by evaluateDiag and the alert rules. */
export const PRIMARY_DOWN_SINCE_KEY = 'diag:primary-down-since';
/** Wall ms of the last lease this host lost: written by the lease state machine's step-down (runtime/leader/holder.ts), read by evaluateDiag. */
export const LEASE_LOST_AT_SLOT = defineSlot<number>('diag:lease-lost-at');

function book(ctx: Pick<FnContext, 'local'>): DiagBook {
  return ctx.local.ensure(BOOK_SLOT, () => ({ reasons: new Map(), owned: false }));
}

/** The active reasons, oldest first. */
export function diagReasons(ctx: Pick<FnContext, 'local'>): DiagReason[] {
  return [...book(ctx).reasons.values()].sort((a, b) => a.since - b.since);
}

/** Whether DIAG is on because of this list (and so will lift by itself). */
export function diagOwned(ctx: Pick<FnContext, 'local'>): boolean {
  return book(ctx).owned;
}

/**
 * Adds a reason (kept once while active). From PROD the mode turns DIAG, audited as
 * `runtime.diag.enter` with every active reason; while already DIAG the addition is audited as
 * `runtime.diag.reason`. A DEBUG runtime keeps its mode (the reason is still listed).
 */
export async function raiseDiag(ctx: FnContext, id: DiagReasonId, detail: string): Promise<void> {
  const b = book(ctx);
  const added = !b.reasons.has(id);
  if (added) b.reasons.set(id, { id, since: ctx.clock.now(), detail });
  const mode = ctx.mode.get();
  // Also a reason raised while DEBUG (before preflight passed) turns the first PROD red.
  if (mode === 'PROD') {
    b.owned = true;
    await ctx.audit.record('runtime.diag.enter', { reasons: diagReasons(ctx) });
    await ctx.mode.set('DIAG', `diag: ${diagReasons(ctx).map((r) => `${r.id} (${r.detail})`).join('; ')}`);
  } else if (added && mode === 'DIAG' && b.owned) {
    await ctx.audit.record('runtime.diag.reason', { added: id, detail, reasons: diagReasons(ctx).map((r) => r.id) });
  }
}

/** Removes a reason; when none is left and DIAG was entered through the list, back to PROD (`runtime.diag.exit`). */
export async function clearDiag(ctx: FnContext, id: DiagReasonId, why: string): Promise<void> {
  const b = book(ctx);
  const reason = b.reasons.get(id);
  if (!reason) return;
  b.reasons.delete(id);
  const lasted = ctx.clock.now() - reason.since;
  if (!b.owned || ctx.mode.get() !== 'DIAG') {
    if (b.reasons.size === 0) b.owned = false;
    return;
  }
  if (b.reasons.size > 0) {
    await ctx.audit.record('runtime.diag.reason', { cleared: id, why, lasted_ms: lasted, reasons: diagReasons(ctx).map((r) => r.id) });
    return;
  }
  b.owned = false;
  await ctx.audit.record('runtime.diag.exit', { cleared: id, why, lasted_ms: lasted });
  await ctx.mode.set('PROD', `diag lifted: ${id} ${why}`);
}

/**
 * Wall ms since when `condition` has held without a break, remembered in ctx.local (one slot
 * holding a Map: `key` → ms) under the condition's name `key` (first seen true → now; false →
 * forgotten). Null while it does not hold.
 */
export function heldSince(ctx: Pick<FnContext, 'local' | 'clock'>, key: string, condition: boolean): number | null {
  if (!condition) {
    ctx.local.get(HELD_SINCE_SLOT)?.delete(key);
    return null;
  }
  const held = ctx.local.ensure(HELD_SINCE_SLOT, () => new Map());
  const seen = held.get(key);
  if (seen !== undefined) return seen;
  const now = ctx.clock.now();
  held.set(key, now);
  return now;
}

/**
 * Raises or clears the non-stream reasons from what this host knows now (called by storage-probe,
 * every probe period, and by alert-check):
 * - `nas_outage`: the primary down longer than diag.nasOutageSeconds;
 * - `sync_failed`: the last sync (status `sync.last`) failed after its last attempt, until one succeeds;
 * - `lease_lost`: this host lost the lease less than diag.leaseLostSeconds ago.
 */
export async function evaluateDiag(ctx: FnContext): Promise<void> {
  const cfg = ctx.config.diag;
  const now = ctx.clock.now();
  const state = ctx.store.state();
  const downSince = heldSince(ctx, PRIMARY_DOWN_SINCE_KEY, state.primary === 'down');
  const outageMs = cfg.nasOutageSeconds * 1000;
  if (downSince !== null && cfg.nasOutageSeconds > 0 && now - downSince >= outageMs) {
    await raiseDiag(ctx, 'nas_outage', `primary down for ${Math.round((now - downSince) / 1000)} s (cause ${state.cause ?? 'unknown'}; limit ${cfg.nasOutageSeconds} s)`);
  } else if (downSince === null) {
    await clearDiag(ctx, 'nas_outage', 'primary up again');
  }

  const last = ctx.status.current().sync.last;
  if (cfg.onSyncFailed && last && !last.ok) await raiseDiag(ctx, 'sync_failed', `sync at ${last.at} failed after its last attempt (${last.items} items done)`);
  else if (!cfg.onSyncFailed || last?.ok) await clearDiag(ctx, 'sync_failed', cfg.onSyncFailed ? `sync at ${last!.at} succeeded` : 'rule off');

  const lostAt = ctx.local.get(LEASE_LOST_AT_SLOT);
  const lostRecently = lostAt !== undefined && cfg.leaseLostSeconds > 0 && now - lostAt < cfg.leaseLostSeconds * 1000;
  if (lostRecently) await raiseDiag(ctx, 'lease_lost', `lease lost at ${new Date(lostAt).toISOString()}`);
  else await clearDiag(ctx, 'lease_lost', `${cfg.leaseLostSeconds} s since the lease was lost`);
}
