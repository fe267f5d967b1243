// runtime/leader/shard-members.ts
// Shard membership and preference: this runtime's heartbeat object and the others', who prefers which shard, a preferred host's hysteresis.

import type { AppConfig } from '../../config/schema.ts';
import type { FnContext } from '../define.ts';
import { backoffDelay } from '../async.ts';
import { isBtcError } from '../errors.ts';
import { LEASE_KEY, memberKey, MEMBERS_PREFIX, parseMemberKey } from '../keys.ts';
import { leaseDocSchema } from '../lease.ts';
import type { BeatOutput } from './outcome.ts';
import type { ShardState } from './shard-state.ts';

/** Base hysteresis of a preferred host, ms: `lease.preferredSettleSeconds`, default three leases. */
export function settleBaseMs(config: AppConfig): number {
  return (config.lease.preferredSettleSeconds ?? 3 * config.lease.leaseSeconds) * 1000;
}
/** The settle time doubles per flap up to this many doublings (16 × the base). */
const MAX_FLAP_DOUBLINGS = 4;
/** A preferred host live this many settle times in a row without losing a lease is forgiven its flaps. */
const FORGIVE_AFTER_SETTLES = 4;

/**
 * Who prefers which shard, from what each live runtime says of itself (its own config, published in
 * its heartbeat object), so runtimes whose configs disagree can never pull a shard back and forth:
 * a shard two live runtimes claim is preferred by neither (logged and audited
 * `collector.shards.preferred_conflict` when the set changes).
 */
export async function noteOwners(ctx: FnContext, state: ShardState, live: string[]): Promise<void> {
  const claims = Array.from({ length: state.n }, (_, k) => (state.preferred[k] === ctx.host ? [ctx.host] : []));
  for (const host of live) {
    if (host === ctx.host) continue;
    for (const k of state.members.get(host)?.preferred ?? []) if (k >= 0 && k < state.n) claims[k]!.push(host);
  }
  state.owners = claims.map((c) => (c.length === 1 ? c[0]! : null));
  const conflicts = claims.flatMap((c, k) => (c.length > 1 ? [`shard ${k}: ${c.sort().join(', ')}`] : []));
  if (conflicts.join('|') !== state.conflicts.join('|')) {
    state.conflicts = conflicts;
    if (conflicts.length) {
      ctx.log.error({ conflicts }, 'live runtimes prefer the same shards (lease.preferredShards differs between PCs): those shards are preferred by none');
      await ctx.audit.record('collector.shards.preferred_conflict', { host: ctx.host, conflicts });
    }
  }
}

/**
 * The preferred host's hysteresis after the renews and the membership beat: a failed membership
 * beat, a renew that paused, degraded or lost a shard, or a refusal restarts the settle time; a
 * lost shard after a reclaim is a flap (settle time doubles, audited
 * `collector.shards.preferred_flap`); a long healthy stretch forgives the flaps.
 */
export async function noteHealth(ctx: FnContext, state: ShardState, membershipOk: boolean, renews: Array<BeatOutput | null>): Promise<void> {
  const settle = state.settle;
  const now = ctx.clock.monotonicMs();
  const lost = renews.some((r) => r?.action === 'stepped_down');
  const unwell = !membershipOk || state.refused !== null || lost || renews.some((r) => r === null || r.action === 'degraded' || r.action === 'paused');
  if (!state.preferred.includes(ctx.host)) {
    settle.upSinceMono = unwell ? null : (settle.upSinceMono ?? now);
    return;
  }
  if (lost && settle.reclaimed) {
    settle.flaps++;
    settle.reclaimed = false;
    const settleMs = settleMsOf(ctx, settle.flaps);
    ctx.log.warn({ flaps: settle.flaps, settle_ms: settleMs }, 'lost preferred shards soon after taking them back; waiting longer before asking again');
    await ctx.audit.record('collector.shards.preferred_flap', { host: ctx.host, flaps: settle.flaps, settle_ms: settleMs, reason: 'lost a shard after taking its preferred shards back' });
  }
  if (unwell) settle.upSinceMono = null;
  else settle.upSinceMono ??= now;
  if (settle.upSinceMono !== null && (settle.flaps > 0 || settle.reclaimed) && now - settle.upSinceMono >= FORGIVE_AFTER_SETTLES * settleMsOf(ctx, settle.flaps)) {
    settle.flaps = 0;
    settle.reclaimed = false;
  }
}

/** The settle time after `flaps` flaps, ms: base × 2^flaps, at most 16 × base. */
export function settleMsOf(ctx: Pick<FnContext, 'config'>, flaps: number): number {
  return backoffDelay(flaps + 1, { baseMs: settleBaseMs(ctx.config), capMs: Number.POSITIVE_INFINITY, maxDoublings: MAX_FLAP_DOUBLINGS });
}

/** Ms this runtime still waits before it asks for its preferred shards back (0: settled; the settle time itself until its first good beat). */
export function settledFor(ctx: Pick<FnContext, 'config' | 'clock'>, state: ShardState): number {
  const settleMs = settleMsOf(ctx, state.settle.flaps);
  if (state.settle.upSinceMono === null) return settleMs;
  return Math.max(0, settleMs - (ctx.clock.monotonicMs() - state.settle.upSinceMono));
}

/**
 * Writes this runtime's heartbeat object, then lists the others (with ETags) and reads a body
 * only when its ETag changed. A live runtime configured with another shard count, or a live
 * one-lease holder, refuses bidding here: the two layouts would collect the same streams twice.
 */
export async function beatMembership(ctx: FnContext, state: ShardState, leaseMs: number): Promise<boolean> {
  const mono = ctx.clock.monotonicMs();
  let ok = false;
  try {
    if (!state.settle.inherited) await inheritFlaps(ctx, state);
    const settle = state.settle;
    const prefers = state.preferred.flatMap((h, k) => (h === ctx.host ? [k] : []));
    const body = JSON.stringify({
      host: ctx.host,
      pid: ctx.pid,
      shards: state.n,
      beat: state.beat,
      heartbeat_ms: ctx.clock.now(),
      ...(prefers.length ? { preferred: prefers, flaps: settle.flaps, reclaimed: settle.reclaimed } : {}),
    });
    await ctx.store.primary.put(memberKey(ctx.host), body, { contentType: 'application/json' });
    ok = true;
    const page = await ctx.store.primary.listPage(MEMBERS_PREFIX, { limit: 1000, etags: true });
    const seen = new Set<string>();
    for (const o of page.objects) {
      const host = parseMemberKey(o.key)!;
      seen.add(host);
      const prev = state.members.get(host);
      if (prev && prev.etag === o.etag) continue;
      let shards: number | null = null;
      let preferred: number[] | undefined;
      try {
        const got = await ctx.store.primary.getOrNull(o.key);
        const body = got ? (JSON.parse(got.body.toString('utf8')) as { shards?: number; preferred?: unknown }) : null;
        shards = body?.shards ?? null;
        preferred = Array.isArray(body?.preferred) ? body.preferred.filter((k): k is number => Number.isInteger(k)) : undefined;
      } catch {
        shards = prev?.shards ?? null;
        preferred = prev?.preferred;
      }
      state.members.set(host, { etag: o.etag, firstSeenMono: mono, shards, ...(preferred ? { preferred } : {}) });
    }
    for (const host of [...state.members.keys()]) if (!seen.has(host)) state.members.delete(host);
    // A runtime still on one lease holds locks/collector.leader and collects every stream.
    const single = await ctx.store.primary.getOrNull(LEASE_KEY);
    if (!single) state.single = null;
    else if (state.single?.etag !== single.etag) {
      let released = true;
      try {
        released = leaseDocSchema.parse(JSON.parse(single.body.toString('utf8'))).released === true;
      } catch {
        released = false;
      }
      state.single = { etag: single.etag, firstSeenMono: mono, shards: released ? 0 : 1 };
    }
  } catch (err) {
    if (!isBtcError(err)) throw err;
    ctx.log.warn({ err: ctx.masker.text(err.message) }, 'membership beat failed; bidding on what was last seen');
    ok = false;
  }
  const disagree = [...state.members.entries()]
    .filter(([host, m]) => host !== ctx.host && mono - m.firstSeenMono < leaseMs && m.shards !== null && m.shards !== state.n)
    .map(([host, m]) => `${host} runs ${m.shards} shard(s)`);
  if (state.single && state.single.shards === 1 && mono - state.single.firstSeenMono < leaseMs) disagree.push(`${LEASE_KEY} is held (a runtime on collector.shards: 1)`);
  const refused = disagree.length ? `runtimes disagree on collector.shards (this one: ${state.n}): ${disagree.join('; ')}` : null;
  if (refused !== state.refused) {
    state.refused = refused;
    if (refused) ctx.log.error({ reason: refused }, 'not bidding for shards');
    await ctx.audit.record(refused ? 'collector.shards.refused' : 'collector.shards.agreed', { host: ctx.host, shards: state.n, reason: refused });
  }
  return ok;
}

/**
 * First beat of a preferred host: its heartbeat object left behind by an earlier process (a graceful
 * stop deletes it, so one that is there means that process died) carries its flaps on; one that had
 * taken its preferred shards back died soon after, which is one flap more.
 */
async function inheritFlaps(ctx: FnContext, state: ShardState): Promise<void> {
  if (!state.preferred.includes(ctx.host)) return void (state.settle.inherited = true);
  const got = await ctx.store.primary.getOrNull(memberKey(ctx.host));
  state.settle.inherited = true;
  if (!got) return;
  let prev: { pid?: unknown; flaps?: unknown; reclaimed?: unknown };
  try {
    prev = JSON.parse(got.body.toString('utf8')) as typeof prev;
  } catch {
    return;
  }
  if (prev.pid === ctx.pid) return;
  const flaps = (typeof prev.flaps === 'number' && Number.isInteger(prev.flaps) && prev.flaps >= 0 ? Math.min(prev.flaps, MAX_FLAP_DOUBLINGS) : 0) + (prev.reclaimed === true ? 1 : 0);
  if (flaps === 0) return;
  state.settle.flaps = flaps;
  const settleMs = settleMsOf(ctx, flaps);
  const reason = prev.reclaimed === true ? 'an earlier process of this host died after taking its preferred shards back' : 'flaps carried over from an earlier process of this host that died';
  ctx.log.warn({ flaps, settle_ms: settleMs }, `${reason}; waiting longer before asking for them again`);
  await ctx.audit.record('collector.shards.preferred_flap', { host: ctx.host, flaps, settle_ms: settleMs, reason });
}
