// runtime/alerts/rules.ts
// The alert rules: what holds now on this host (conditions, each with a dedupe key), from status, router, disk, clock and audit events.

import type { AlertsConfig } from '../../config/schema.ts';
import type { FnContext } from '../define.ts';
import { diagReasons, heldSince, PRIMARY_DOWN_SINCE_KEY } from '../diag-reasons.ts';
import type { AuditEvent } from '../audit.ts';
import { capacityReport, COMPACT_LAST_SLOT } from '../lake/capacity.ts';
import { defineSlot } from '../local-slots.ts';
import { measureBacklog } from '../store/backlog.ts';
import { symbolKey } from '../keys.ts';

/**
 * Rule names (the `rule` label of btc_ts_alert_open, the first part of every dedupe key) with
 * their config key and scope: `host` facts are evaluated by every host for itself; `cluster`
 * facts (streams, gaps) only by the lease holder, so one event fires once.
 */
export const RULES = [
  { name: 'stream_stale', config: 'streamStale', scope: 'cluster' },
  { name: 'gap', config: 'gaps', scope: 'cluster' },
  { name: 'primary_down', config: 'primaryDown', scope: 'host' },
  { name: 'cache_backlog', config: 'cacheBacklog', scope: 'host' },
  { name: 'sync_failed', config: 'syncFailed', scope: 'host' },
  // Recorded by exactly one host (the acquirer records a change of hands, the host that stepped
  // down records the overlap): evaluated by each host on its own events, so it fires once.
  { name: 'lease_change', config: 'leaseChange', scope: 'host' },
  { name: 'diag', config: 'diag', scope: 'host' },
  { name: 'disk_free', config: 'diskFree', scope: 'host' },
  { name: 'clock_skew', config: 'clockSkew', scope: 'host' },
  // The bucket is shared: the holder measures it, so two PCs do not list it twice.
  { name: 'nas_full', config: 'nasFull', scope: 'cluster' },
] as const satisfies ReadonlyArray<{ name: string; config: keyof AlertsConfig['rules']; scope: 'host' | 'cluster' }>;
export type RuleName = (typeof RULES)[number]['name'];
export type RuleScope = 'host' | 'cluster';
export const RULE_NAMES: readonly RuleName[] = RULES.map((r) => r.name);

/** A condition that holds now: an incident is open for its key while it keeps holding. */
export interface Condition {
  rule: RuleName;
  key: string;
  summary: string;
  /** Wall ms the condition began (or the first event was seen). */
  since: number;
  details: Record<string, unknown>;
}

/** Audit events the event rules watch. */
export const GAP_EVENTS = ['collector.gap.unfillable', 'collector.gap.suspected'] as const;
export const LEASE_EVENTS = ['collector.leader.acquire', 'collector.leader.overlap'] as const;

interface SeenEvents {
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

function seen(ctx: Pick<FnContext, 'local'>): Map<string, SeenEvents> {
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

export async function gatherFacts(ctx: FnContext): Promise<Facts> {
  const rules = ctx.config.alerts.rules;
  const backlog = rules.cacheBacklog.enabled ? await measureBacklog(ctx.store.secondary).catch(() => null) : null;
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

const secs = (ms: number) => `${Math.round(ms / 1000)} s`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * The conditions that hold now for the rules this host evaluates (enabled, and cluster rules only
 * on the lease holder). `evaluated` lists those rules: an open incident of a rule not evaluated
 * is not resolved by a missing condition here (the caller decides).
 */
export function evaluateRules(ctx: FnContext, facts: Facts): { conditions: Condition[]; evaluated: Set<RuleName> } {
  const cfg = ctx.config.alerts.rules;
  const { now } = facts;
  const evaluated = new Set<RuleName>();
  const out: Condition[] = [];
  const status = ctx.status.current();
  const active = (rule: (typeof RULES)[number]) => cfg[rule.config].enabled && (rule.scope === 'host' || ctx.lease.holder);
  const on = (name: RuleName) => {
    const rule = RULES.find((r) => r.name === name)!;
    if (!active(rule)) return false;
    evaluated.add(name);
    return true;
  };

  if (on('stream_stale') && ctx.mode.get() !== 'DEBUG') {
    const limitMs = cfg.streamStale.afterSeconds * 1000;
    // Rows from before this host took the lease are no evidence against the collector now.
    const holdingSince = ctx.lease.since ?? now;
    const configured = new Set(ctx.config.collector.streams.flatMap((s) => s.symbols.map((sym) => `${s.exchange}/${s.topic}/${symbolKey(sym)}`)));
    for (const row of status.streams) {
      const name = `${row.exchange}/${row.topic}/${symbolKey(row.symbol)}`;
      if (!configured.has(name)) continue;
      const firstSeen = heldSince(ctx, `alerts:stream-seen/${name}`, true)!;
      const lastOk = Math.max(row.last_ok_ms ?? firstSeen, holdingSince, firstSeen);
      if (now - lastOk <= limitMs) continue;
      out.push({
        rule: 'stream_stale',
        key: `stream_stale/${name}`,
        since: lastOk,
        summary: `${name}: no successful fetch for ${secs(now - lastOk)} (limit ${secs(limitMs)})${row.cause ? `, cause ${row.cause}` : ''}${row.ok ? '' : `, ${row.retries} retries`}`,
        details: { stream: name, ok: row.ok, cause: row.cause, retries: row.retries, last_ok_ms: row.last_ok_ms },
      });
    }
  }

  const gapsOn = on('gap');
  const leaseOn = on('lease_change');
  if (gapsOn || leaseOn) {
    for (const [key, e] of seen(ctx)) {
      const quietMs = (e.rule === 'gap' ? cfg.gaps.quietSeconds : cfg.leaseChange.quietSeconds) * 1000;
      if (now - e.last >= quietMs) {
        seen(ctx).delete(key);
        continue;
      }
      if (!evaluated.has(e.rule)) continue;
      out.push({ rule: e.rule, key, since: e.first, summary: e.count > 1 ? `${e.summary} (${e.count} events, last at ${new Date(e.last).toISOString()})` : e.summary, details: { ...e.details, events: e.count, last_at: new Date(e.last).toISOString() } });
    }
  }

  const state = ctx.store.state();
  const downSince = heldSince(ctx, PRIMARY_DOWN_SINCE_KEY, state.primary === 'down');
  if (on('primary_down') && downSince !== null && now - downSince > cfg.primaryDown.afterSeconds * 1000) {
    out.push({
      rule: 'primary_down',
      key: 'primary_down',
      since: downSince,
      summary: `primary (${ctx.store.primary.describe}) down for ${secs(now - downSince)} (cause ${state.cause ?? 'unknown'}); writes go to the local cache`,
      details: { cause: state.cause, primary: ctx.store.primary.describe },
    });
  }

  if (on('cache_backlog') && facts.backlog) {
    const b = facts.backlog;
    const over = b.objects > cfg.cacheBacklog.maxObjects || b.bytes > cfg.cacheBacklog.maxBytes;
    const since = heldSince(ctx, 'alerts:backlog-since', over);
    if (over && since !== null) {
      out.push({
        rule: 'cache_backlog',
        key: 'cache_backlog',
        since,
        summary: `local cache holds ${b.capped ? 'at least ' : ''}${b.objects} objects, ${mib(b.bytes)} for the primary (limits ${cfg.cacheBacklog.maxObjects} objects, ${mib(cfg.cacheBacklog.maxBytes)})`,
        details: { objects: b.objects, bytes: b.bytes, capped: b.capped, max_objects: cfg.cacheBacklog.maxObjects, max_bytes: cfg.cacheBacklog.maxBytes },
      });
    }
  }

  const last = status.sync.last;
  if (on('sync_failed') && last && !last.ok) {
    out.push({
      rule: 'sync_failed',
      key: 'sync_failed',
      since: Date.parse(last.at) || now,
      summary: `sync at ${last.at} failed after its last attempt (${last.items} objects, ${mib(last.bytes)} copied before it stopped); the rest waits in the local cache`,
      details: { at: last.at, items: last.items, bytes: last.bytes },
    });
  }

  const diagSince = heldSince(ctx, 'alerts:diag-since', ctx.mode.get() === 'DIAG');
  if (on('diag') && diagSince !== null && now - diagSince > cfg.diag.afterSeconds * 1000) {
    const reasons = diagReasons(ctx);
    out.push({
      rule: 'diag',
      key: 'diag',
      since: diagSince,
      summary: `mode DIAG for ${secs(now - diagSince)}${reasons.length ? `: ${reasons.map((r) => `${r.id} (${r.detail})`).join('; ')}` : ''}`,
      details: { reasons },
    });
  }

  const minFree = cfg.diskFree.minBytes ?? ctx.config.storage.diskFreeWarnBytes;
  if (on('disk_free') && facts.disk) {
    const low = facts.disk.free_bytes < minFree;
    const since = heldSince(ctx, 'alerts:disk-since', low);
    if (low && since !== null) {
      out.push({
        rule: 'disk_free',
        key: 'disk_free',
        since,
        summary: `${mib(facts.disk.free_bytes)} free on the data directory's disk (limit ${mib(minFree)}, ${ctx.paths.dataDir})`,
        details: { free_bytes: facts.disk.free_bytes, total_bytes: facts.disk.total_bytes, min_bytes: minFree },
      });
    }
  }

  const skew = status.clock_skew_ms ?? null;
  if (on('clock_skew')) {
    const over = skew !== null && Math.abs(skew) > cfg.clockSkew.maxSeconds * 1000;
    const since = heldSince(ctx, 'alerts:skew-since', over);
    if (over && since !== null) {
      out.push({
        rule: 'clock_skew',
        key: 'clock_skew',
        since,
        summary: `this PC's clock is ${(Math.abs(skew!) / 1000).toFixed(1)} s ${skew! > 0 ? 'ahead of' : 'behind'} the primary's (limit ${cfg.clockSkew.maxSeconds} s): fix the time sync (NTP)`,
        details: { skew_ms: skew, max_ms: cfg.clockSkew.maxSeconds * 1000 },
      });
    }
  }
  const cap = facts.capacity;
  if (on('nas_full') && cap && cap.days_until_full !== null) {
    const soon = cap.days_until_full <= cfg.nasFull.withinDays;
    const since = heldSince(ctx, 'alerts:nas-full-since', soon);
    if (soon && since !== null) {
      out.push({
        rule: 'nas_full',
        key: 'nas_full',
        since,
        summary: `the primary (${ctx.store.primary.describe}) is forecast full on ${cap.full_at!.slice(0, 10)}, in ${cap.days_until_full.toFixed(1)} days (limit ${cfg.nasFull.withinDays}): ${mib(cap.total_bytes)} of ${mib(cap.capacity_bytes)} used, growing ${mib(cap.growth_bytes_per_day)} a day; compact, shorten retention (retention.rawDays / parquetDays) or add space`,
        details: { total_bytes: cap.total_bytes, capacity_bytes: cap.capacity_bytes, growth_bytes_per_day: cap.growth_bytes_per_day, days_until_full: cap.days_until_full, full_at: cap.full_at, within_days: cfg.nasFull.withinDays, measured_at: new Date(cap.at).toISOString() },
      });
    }
  }
  return { conditions: out, evaluated };
}
