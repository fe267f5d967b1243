// runtime/alerts/rules.ts
// The alert rules: what holds now on this host (conditions, each with a dedupe key), from status, router, disk, clock and audit events (watched: event-watch.ts; measured: facts.ts).

import type { AlertsConfig } from '../../config/schema.ts';
import type { FnContext } from '../define.ts';
import { diagReasons, heldSince, PRIMARY_DOWN_SINCE_KEY } from '../diag-reasons.ts';
import { symbolKey } from '../keys.ts';
import { seen } from './event-watch.ts';
import type { Facts } from './facts.ts';

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
