// runtime/leader/shards.ts
// The sharded heartbeat: each shard's lease beaten in its own context, fair-share bidding and handover requests (map: shard-map.ts; state: shard-state.ts; membership and preference: shard-members.ts; reporting: shard-status.ts).

import type { AuditEventName, AuditEvents } from '../audit-events.ts';
import type { FnContext } from '../define.ts';
import { withTimeout } from '../async.ts';
import { LEADER_MEMORY_SLOT, LEASE_KEY_SLOT, LEASE_STATUS_SLOT, leaderMemory, leaseTimings, setLeaseView, type LeaseDoc } from '../lease.ts';
import { LocalSlots, type Slot } from '../local-slots.ts';
import { memberKey } from '../keys.ts';
import { followerBeat } from './follower.ts';
import { holderBeat, releaseLease } from './holder.ts';
import type { BeatOutput } from './outcome.ts';
import { beatMembership, noteHealth, noteOwners, settledFor } from './shard-members.ts';
import { ensureState, type ShardSlot, type ShardState } from './shard-state.ts';
import { publishShardStatus } from './shard-status.ts';

/** The slots a shard's context keeps for itself (its lease memory, key and status publisher); every other slot is the runtime's. */
const SHARD_OWN_SLOTS: ReadonlySet<string> = new Set([LEADER_MEMORY_SLOT, LEASE_KEY_SLOT, LEASE_STATUS_SLOT].map((s) => s.name));

/** `ctx.local` for a shard: its own lease memory and key, the runtime's map for everything else (e.g. the lease-lost DIAG mark). */
class ShardLocal extends LocalSlots {
  constructor(
    private readonly parent: LocalSlots,
    private readonly mine: LocalSlots,
  ) {
    super();
  }
  private of<T>(slot: Slot<T>): LocalSlots {
    return SHARD_OWN_SLOTS.has(slot.name) ? this.mine : this.parent;
  }
  override get<T>(slot: Slot<T>): T | undefined {
    return this.of(slot).get(slot);
  }
  override set<T>(slot: Slot<T>, value: T): this {
    this.of(slot).set(slot, value);
    return this;
  }
  override has<T>(slot: Slot<T>): boolean {
    return this.of(slot).has(slot);
  }
  override delete<T>(slot: Slot<T>): boolean {
    return this.of(slot).delete(slot);
  }
}

/**
 * The context the lease state machine runs in for one shard: its own LeaseView, lease key and
 * memory; audit events carry `shard`; the preferred-leader rule is replaced by the fair share and
 * lease.preferredShards (shardedBeat's policy).
 */
function shardContext(ctx: FnContext, state: ShardState, slot: ShardSlot): FnContext {
  const audit = Object.create(ctx.audit) as FnContext['audit'];
  audit.record = <E extends AuditEventName>(event: E, payload: AuditEvents[E]) => ctx.audit.record(event, { ...payload, shard: slot.shard });
  const local = new ShardLocal(ctx.local, slot.own);
  slot.own.set(LEASE_STATUS_SLOT, (doc: LeaseDoc | null) => {
    slot.doc = doc;
    publishShardStatus(ctx, state);
  });
  return {
    ...ctx,
    lease: slot.view,
    local,
    audit,
    // No metrics hook per shard: the epoch gauge is the one lease's; shard gauges are set below.
    metrics: undefined,
    // The one-lease preferred leader never applies to a shard (config refuses it with shards; preferredShards does it per shard).
    config: { ...ctx.config, lease: { ...ctx.config.lease, preferredLeader: undefined } },
  };
}

type ShardBeat = Omit<BeatOutput, 'action'> & { action: 'released' | 'renewed' | 'following' };

/**
 * One beat of every shard lease. Order: this runtime's heartbeat object, the membership (hosts
 * whose heartbeat object changed within a lease on this runtime's monotonic clock), the renews of
 * held shards (in parallel: a renew must not wait behind another shard's read), then the other
 * shards in order with the fair-share policy: take an absent, released or stale shard only below
 * ⌈shards ÷ live runtimes⌉; ask a holder with at least two shards more than this runtime for one
 * by the handover protocol (one request at a time). Returns the one-lease output shape, describing
 * shard 0 (the shard whose holder also runs the cluster-wide duties), plus `shards`.
 */
export async function shardedBeat(ctx: FnContext, action: 'heartbeat' | 'release'): Promise<ShardBeat> {
  const state = ensureState(ctx);
  const contexts = state.slots.map((slot) => shardContext(ctx, state, slot));
  const memOf = (i: number) => leaderMemory(contexts[i]!);
  if (action === 'release') {
    for (let i = 0; i < state.n; i++) if (memOf(i).held) await releaseLease(contexts[i]!, memOf(i), 'requested');
    await ctx.store.primary.delete(memberKey(ctx.host)).catch(() => undefined);
    return finish(ctx, state, 'released');
  }
  state.beat++;
  const { leaseMs, opTimeoutMs } = leaseTimings(ctx);
  const now = () => ctx.clock.monotonicMs();
  const settle = state.settle;

  // Renews of held shards, all at once, alongside the membership beat: a slow NAS answering the
  // heartbeat object or the listing late must never delay a renew.
  const heldIdx = state.slots.map((_, i) => i).filter((i) => memOf(i).held);
  let membershipOk = false;
  const renews = await Promise.all([
    ...heldIdx.map((i) =>
      holderBeat(contexts[i]!, memOf(i)).catch((err) => {
        ctx.log.warn({ shard: i, err: ctx.masker.text(String(err)) }, 'shard renew failed');
        return null;
      }),
    ),
    withTimeout(beatMembership(ctx, state, leaseMs), 2 * opTimeoutMs, 'membership beat')
      .then((ok) => void (membershipOk = ok))
      .catch((err: unknown) => ctx.log.warn({ err: ctx.masker.text(String(err)) }, 'membership beat failed or late; bidding on what was last seen')),
  ]);
  await noteHealth(ctx, state, membershipOk, renews.slice(0, heldIdx.length) as Array<BeatOutput | null>);

  // Hosts whose shard lease this runtime watches go stale with it: not live, whatever their heartbeat object says.
  const staleHolders = new Set<string>();
  state.slots.forEach((slot, i) => {
    const observed = memOf(i).observed;
    if (!memOf(i).held && slot.doc && !slot.doc.released && observed && now() - observed.firstSeenMono >= leaseMs) staleHolders.add(slot.doc.host);
  });
  const live = [ctx.host, ...[...state.members.entries()].filter(([host, m]) => host !== ctx.host && now() - m.firstSeenMono < leaseMs && !staleHolders.has(host)).map(([h]) => h)];
  state.live = live.sort();
  state.share = Math.ceil(state.n / live.length);
  await noteOwners(ctx, state, live);
  const counts = new Map<string, number>();
  let mine = 0;
  state.slots.forEach((slot, i) => {
    if (memOf(i).held) mine++;
    else if (slot.view.leaderHost && slot.doc && !slot.doc.released && live.includes(slot.view.leaderHost)) counts.set(slot.view.leaderHost, (counts.get(slot.view.leaderHost) ?? 0) + 1);
    if (slot.requestedMono !== null && (memOf(i).held || now() - slot.requestedMono >= leaseMs)) slot.requestedMono = null;
  });
  let pending = state.slots.filter((s) => s.requestedMono !== null).length;
  const preferred = state.owners;
  const settled = settledFor(ctx, state) === 0;
  // This runtime's own preferred shards first: a handover for the fair share then lands where the operator wants it.
  const order = state.slots.map((_, i) => i).sort((x, y) => Number(preferred[y] === ctx.host) - Number(preferred[x] === ctx.host) || x - y);
  for (const i of order) {
    if (memOf(i).held) continue;
    const slot = state.slots[i]!;
    const mineByPreference = preferred[i] === ctx.host;
    const policy = {
      mayAcquire: (why: string, doc: LeaseDoc | null) => {
        if (state.refused !== null) return false;
        // An absent, released or stale shard moves no one: its preferred host takes it whatever its count.
        if (mineByPreference) return true;
        // A stale lease's holder is not live from this beat on, whatever the count at its start said.
        const others = why === 'stale' && doc && doc.host !== ctx.host ? live.filter((h) => h !== doc.host) : live;
        return mine < Math.ceil(state.n / Math.max(1, others.length));
      },
      wantHandover: (doc: LeaseDoc) => {
        if (state.refused !== null || pending > 0 || !live.includes(doc.host)) return false;
        // A settled preferred host asks for its shard back, above its share if the operator asked for that.
        if (mineByPreference && settled) return true;
        // Never take a shard from its preferred host, nor one its live preferred host will ask back (it would move twice).
        const owner = preferred[i] ?? null;
        if (owner === doc.host || (owner !== null && owner !== ctx.host && live.includes(owner))) return false;
        return mine < state.share && (counts.get(doc.host) ?? 0) >= mine + 2;
      },
    };
    try {
      const out = await followerBeat(contexts[i]!, memOf(i), policy);
      if (out.action === 'acquired') {
        mine++;
        slot.requestedMono = null;
        // One of its preferred shards taken from another runtime: losing it again soon is a flap.
        if (mineByPreference && out.detail === 'handover') settle.reclaimed = true;
      }
      if (out.action === 'handover_requested') {
        slot.requestedMono = now();
        pending++;
      }
    } catch (err) {
      ctx.log.warn({ shard: i, err: ctx.masker.text(String(err)) }, 'shard lease beat failed');
    }
  }
  return finish(ctx, state, 'beat');
}

/** The runtime-wide LeaseView mirrors shard 0 (cluster-wide duties run once, on its holder); status and metrics get every shard. */
function finish(ctx: FnContext, state: ShardState, what: string): ShardBeat {
  const zero = state.slots[0]!.view;
  setLeaseView(ctx.lease, { ...zero });
  publishShardStatus(ctx, state);
  const held = state.slots.filter((s) => s.view.holder).map((s) => s.shard);
  return {
    action: what === 'released' ? 'released' : held.length ? 'renewed' : 'following',
    holder: zero.holder,
    leader: zero.leaderHost,
    epoch: zero.epoch,
    degraded: zero.degraded,
    detail: `shards held: [${held.join(',')}] of ${state.n}; live: ${state.live.join(',')}; share ${state.share}${state.refused ? `; ${state.refused}` : ''}`,
  };
}
