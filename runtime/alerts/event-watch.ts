// runtime/alerts/event-watch.ts
// The audit events the event rules watch (trade gaps, lease changes): every one recorded in this process noted per incident key, none missed between two checks.

import type { FnContext } from '../define.ts';
import type { AuditEvent } from '../audit.ts';
import { defineSlot } from '../local-slots.ts';
import { symbolKey } from '../keys.ts';

/** Audit events the event rules watch. */
export const GAP_EVENTS = ['collector.gap.unfillable', 'collector.gap.suspected'] as const;
export const LEASE_EVENTS = ['collector.leader.acquire', 'collector.leader.overlap'] as const;

/** Events of one incident key as seen so far: first and last time (wall ms), how many. */
export interface SeenEvents {
  key: string;
  rule: 'gap' | 'lease_change';
  first: number;
  last: number;
  count: number;
  summary: string;
  details: Record<string, unknown>;
}

/** Open event incidents (gap, lease change) by incident key: written by watchEvents / noteEvent (audit listener), read by the event rules. */
const EVENTS_SLOT = defineSlot<Map<string, SeenEvents>>('alerts:events');
/** Set (true) once watchEvents subscribed to this process's audit, so it subscribes once. */
const WATCHING_SLOT = defineSlot<boolean>('alerts:watching');

/**
 * Starts watching this process's audit for gap and lease events (idempotent): the events already
 * recorded since start are taken from the recent list, later ones from the listener, so none is
 * missed between two checks however many there are.
 */
export function watchEvents(ctx: FnContext, open: ReadonlyArray<{ key: string; rule: string; since: string; summary: string; details: Record<string, unknown> }> = []): void {
  if (ctx.local.get(WATCHING_SLOT)) return;
  ctx.local.set(WATCHING_SLOT, true);
  // Event incidents a previous run left open: over only after the quiet time since their last event,
  // not at once because this process has not seen that event itself.
  for (const i of open) {
    if (i.rule !== 'gap' && i.rule !== 'lease_change') continue;
    const last = Date.parse(String(i.details.last_at ?? i.since));
    const first = Date.parse(i.since);
    const count = typeof i.details.events === 'number' ? i.details.events : 1;
    const { events: _e, last_at: _l, ...details } = i.details;
    seen(ctx).set(i.key, { key: i.key, rule: i.rule, first, last: Number.isFinite(last) ? last : ctx.clock.now(), count, summary: i.summary.replace(/ \(\d+ events, last at [^)]*\)$/, ''), details });
  }
  for (const e of ctx.audit.recentEvents(Number.MAX_SAFE_INTEGER).reverse()) noteEvent(ctx, e);
  ctx.audit.onRecord((e) => noteEvent(ctx, e));
}

/** The event incidents seen and not yet quiet, by incident key (the event rules read and prune it). */
export function seen(ctx: Pick<FnContext, 'local'>): Map<string, SeenEvents> {
  return ctx.local.ensure(EVENTS_SLOT, () => new Map());
}

function noteEvent(ctx: FnContext, e: AuditEvent): void {
  const p = e.payload;
  let entry: Omit<SeenEvents, 'first' | 'last' | 'count'> | null = null;
  if ((GAP_EVENTS as readonly string[]).includes(e.event)) {
    const kind = e.event.slice('collector.gap.'.length);
    const stream = typeof p.stream === 'string' ? p.stream : `${String(p.exchange ?? '?')}/trades/${symbolKey(String(p.symbol ?? '?'))}`;
    entry = {
      key: `gap/${stream}`,
      rule: 'gap',
      summary: `${kind} trade gap in ${stream}: ids ${String(p.from ?? '?')}–${String(p.to ?? '?')} (${String(p.count ?? '?')} trades)`,
      details: { event: e.event, stream, from: p.from ?? null, to: p.to ?? null, count: p.count ?? null },
    };
  } else if (e.event === 'collector.leader.overlap') {
    entry = {
      key: 'lease_change',
      rule: 'lease_change',
      summary: `overlap reported: ${String(p.host)} (epoch ${String(p.epoch)}) and ${String(p.other_host ?? '?')} (epoch ${String(p.other_epoch ?? '?')}) may both have collected ${String(p.from)} – ${String(p.to)}`,
      details: { event: e.event, host: p.host ?? null, epoch: p.epoch ?? null, other_host: p.other_host ?? null, other_epoch: p.other_epoch ?? null, from: p.from ?? null, to: p.to ?? null },
    };
  } else if (e.event === 'collector.leader.acquire' && typeof p.previous_host === 'string' && p.previous_host !== e.host) {
    entry = {
      key: 'lease_change',
      rule: 'lease_change',
      summary: `lease changed hands: ${p.previous_host} (epoch ${String(p.previous_epoch ?? '?')}) → ${e.host} (epoch ${String(p.epoch)}), reason ${String(p.reason ?? '?')}`,
      details: { event: e.event, previous_host: p.previous_host, previous_epoch: p.previous_epoch ?? null, host: e.host, epoch: p.epoch ?? null, reason: p.reason ?? null },
    };
  }
  if (!entry) return;
  const m = seen(ctx);
  const prev = m.get(entry.key);
  m.set(entry.key, { ...entry, first: prev?.first ?? e.ts, last: e.ts, count: (prev?.count ?? 0) + 1 });
}
