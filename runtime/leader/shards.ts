// runtime/leader/shards.ts
// Shards of streams, one lease each: the stable stream → shard map, fair-share bidding, per-shard lease contexts (membership and preference: shard-members.ts).

import type { AppConfig } from '../../config/schema.ts';
import type { AuditEventName, AuditEvents } from '../audit-events.ts';
import type { FnContext, LeaseView } from '../define.ts';
import { withTimeout } from '../async.ts';
import {
  LEADER_MEMORY_SLOT,
  LEASE_KEY_SLOT,
  LEASE_STATUS_SLOT,
  iso,
  leaderMemory,
  leaseDocSchema,
  leaseTimings,
  setLeaseView,
  type LeaseDoc,
} from '../lease.ts';
import { defineSlot, LocalSlots, type Slot } from '../local-slots.ts';
import type { StreamId } from '../streams.ts';
import { memberKey, shardLeaseKey } from '../keys.ts';
import { followerBeat } from './follower.ts';
import { holderBeat, releaseLease } from './holder.ts';
import type { BeatOutput } from './outcome.ts';
import { beatMembership, noteHealth, noteOwners, settledFor, settleMsOf, type MemberSeen } from './shard-members.ts';

/** Shards configured (1 = the one lease of today). */
export const shardCount = (config: AppConfig): number => config.collector.shards ?? 1;

/**
 * FNV-1a, 32 bit, over UTF-8: stable across processes, versions and platforms (no node:crypto, so
 * a workerd build can map streams too). Changing it moves streams between shards: never change it.
 */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The shard of a stream (exchange, topic, symbol): its stream entry's `shard:` when pinned, else
 * fnv1a("exchange\ntopic\nsymbol") mod `collector.shards`. Always 0 with one shard.
 */
export function shardOfStream(config: AppConfig, id: StreamId): number {
  const n = shardCount(config);
  if (n <= 1) return 0;
  const pinned = config.collector.streams.find((s) => s.exchange === id.exchange && s.topic === id.topic && s.symbols.includes(id.symbol))?.shard;
  if (pinned !== undefined) return pinned;
  return fnv1a(`${id.exchange}\n${id.topic}\n${id.symbol}`) % n;
}

/** Every configured stream with its shard (`runtime whatif`, /health, the page). */
export function shardMap(config: AppConfig): Array<StreamId & { shard: number; pinned: boolean }> {
  return config.collector.streams.flatMap((s) =>
    s.symbols.map((symbol) => ({ exchange: s.exchange, topic: s.topic, symbol, shard: shardOfStream(config, { exchange: s.exchange, topic: s.topic, symbol }), pinned: s.shard !== undefined })),
  );
}

/**
 * Shard → its preferred host from `lease.preferredShards` (null: none). The schema guarantees each
 * shard exists and has at most one preferred host (config/schema.ts).
 */
export function preferredHosts(config: AppConfig): Array<string | null> {
  const out: Array<string | null> = Array.from({ length: shardCount(config) }, () => null);
  for (const [host, list] of Object.entries(config.lease.preferredShards ?? {})) for (const k of list) if (k < out.length) out[k] = host;
  return out;
}

/** One shard's placement as `runtime whatif` reads it: its preferred host, its lease as stored now, its streams. */
export interface ShardPlacement {
  shard: number;
  /** Preferred host by this config's lease.preferredShards, null when none. */
  preferred: string | null;
  /** Holder named in `locks/collector.shard-<k>` now (null: absent, released, or the read failed: see `error`). */
  holder: string | null;
  epoch: number | null;
  released: boolean;
  /** The lease read failed: its message (the caller masks secrets before printing it). */
  error?: string;
  streams: string[];
}

/**
 * Reads every shard's lease once from the primary: shard → preferred host, current holder and
 * epoch, streams. One snapshot: whether the holder is still live is for the runtimes to judge (by
 * their own clocks), not for this read. Never throws: a failed read is in `error`.
 */
export async function shardPlacement(config: AppConfig, primary: { getOrNull(key: string): Promise<{ body: Buffer } | null> }): Promise<ShardPlacement[]> {
  const preferred = preferredHosts(config);
  const map = shardMap(config);
  return Promise.all(
    preferred.map(async (pref, shard) => {
      const streams = map.filter((m) => m.shard === shard).map((m) => `${m.exchange}/${m.topic}/${m.symbol}${m.pinned ? ' (pinned)' : ''}`);
      try {
        const got = await primary.getOrNull(shardLeaseKey(shard));
        const doc = got ? leaseDocSchema.parse(JSON.parse(got.body.toString('utf8'))) : null;
        return { shard, preferred: pref, holder: doc && !doc.released ? doc.host : null, epoch: doc?.epoch ?? null, released: doc?.released === true, streams };
      } catch (err) {
        return { shard, preferred: pref, holder: null, epoch: null, released: false, error: err instanceof Error ? err.message : String(err), streams };
      }
    }),
  );
}

/** One shard's lease as this runtime sees it. */
export interface ShardSlot {
  shard: number;
  key: string;
  /** This shard's LeaseView: `holder` = this runtime may collect the shard's streams at `epoch`. */
  view: LeaseView;
  /** The shard context's own `ctx.local` entries (its lease memory); everything else is the runtime's. */
  own: LocalSlots;
  /** The lease document as last read or written (null: absent or unreadable). */
  doc: LeaseDoc | null;
  /** Monotonic ms this runtime asked the holder to hand the shard over (pending until taken or a lease passed). */
  requestedMono: number | null;
}

export interface ShardState {
  n: number;
  slots: ShardSlot[];
  members: Map<string, MemberSeen>;
  /** The one-lease object as observed (a runtime still on `collector.shards: 1` makes the split unsafe). */
  single: MemberSeen | null;
  /** Why bidding is refused (runtimes disagree on N), else null; audited when it changes. */
  refused: string | null;
  /** Hosts counted live at the last beat (self included), and the fair share that gave. */
  live: string[];
  share: number;
  beat: number;
  /** shard → its preferred host (lease.preferredShards), null when none. */
  preferred: Array<string | null>;
  /** This runtime as a preferred host: the hysteresis before it asks for its preferred shards back. */
  settle: SettleState;
  /** shard → the one live runtime that prefers it by its own config (published in its heartbeat object), null when none or contested. */
  owners: Array<string | null>;
  /** Shards two live runtimes both prefer (their configs disagree): preferred by neither until fixed. */
  conflicts: string[];
  lastStatus?: string;
}

/** Hysteresis of a preferred host (docs/leader.md "Preferred placement"). */
export interface SettleState {
  /** Monotonic ms since which this runtime has been live without losing, pausing or degrading a lease; null until its heartbeat object is written. */
  upSinceMono: number | null;
  /** Times it lost its preferred shards soon after taking them back: the settle time is base × 2^flaps (at most 16 ×). Carried across a crash in its heartbeat object. */
  flaps: number;
  /** It took one of its preferred shards from another live runtime since it was last forgiven (a loss now is a flap). */
  reclaimed: boolean;
  /** Its heartbeat object as an earlier process of this host left it was read (first beat only). */
  inherited: boolean;
}

/** This runtime's shard leases: made by the sharded heartbeat (ensureState), read by collect ticks, the HTTP routes, status and tests (shardStateOf). */
const SHARDS_SLOT = defineSlot<ShardState>('leader:shards');
/** The slots a shard's context keeps for itself (its lease memory, key and status publisher); every other slot is the runtime's. */
const SHARD_OWN_SLOTS: ReadonlySet<string> = new Set([LEADER_MEMORY_SLOT, LEASE_KEY_SLOT, LEASE_STATUS_SLOT].map((s) => s.name));

/** The shard state of this runtime, or null with one shard (nothing here runs then). */
export function shardStateOf(local: LocalSlots): ShardState | null {
  return local.get(SHARDS_SLOT) ?? null;
}

function ensureState(ctx: FnContext): ShardState {
  const n = shardCount(ctx.config);
  let state = shardStateOf(ctx.local);
  if (!state || state.n !== n) {
    state = {
      n,
      slots: Array.from({ length: n }, (_, shard) => ({
        shard,
        key: shardLeaseKey(shard),
        view: { holder: false, epoch: 0, leaderHost: null, since: null, degraded: false },
        own: new LocalSlots().set(LEASE_KEY_SLOT, shardLeaseKey(shard)),
        doc: null,
        requestedMono: null,
      })),
      members: new Map(),
      single: null,
      refused: null,
      live: [ctx.host],
      share: n,
      beat: 0,
      preferred: preferredHosts(ctx.config),
      owners: Array.from({ length: n }, () => null),
      conflicts: [],
      settle: { upSinceMono: null, flaps: 0, reclaimed: false, inherited: false },
    };
    ctx.local.set(SHARDS_SLOT, state);
  }
  return state;
}

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

/**
 * One row per shard as this runtime sees it (status `shards`, /health, the page): `host` holds it
 * at `epoch`; `preferred` is its preferred host by this runtime's config (null: none).
 */
export function shardRows(state: ShardState) {
  return state.slots.map((s) => ({
    shard: s.shard,
    host: s.view.leaderHost,
    epoch: s.view.epoch,
    self: s.view.holder,
    since: iso(s.view.since),
    degraded: s.view.degraded,
    preferred: state.preferred[s.shard] ?? null,
  }));
}

/**
 * This runtime as a preferred host (null when its config prefers no shard for it): its preferred
 * shards, whether it has settled (may ask for them back), the settle time now (ms, doubled per
 * flap), its flaps; plus the shards live runtimes both claim.
 */
export function preferenceBlock(ctx: Pick<FnContext, 'host' | 'config' | 'clock'>, state: ShardState) {
  const mine = state.preferred.flatMap((h, k) => (h === ctx.host ? [k] : []));
  return {
    shards: mine,
    settled: mine.length > 0 && settledFor(ctx, state) === 0,
    settle_ms: settleMsOf(ctx, state.settle.flaps),
    flaps: state.settle.flaps,
    conflicts: state.conflicts,
  };
}

/** Status `shards` block and the per-shard gauges, written only when they changed. */
function publishShardStatus(ctx: FnContext, state: ShardState): void {
  const rows = shardRows(state);
  for (const r of rows) ctx.metrics?.noteShard?.(r.shard, r.self, r.epoch);
  const block = { count: state.n, live: state.live, share: state.share, refused: state.refused, rows, preference: preferenceBlock(ctx, state) };
  const fingerprint = JSON.stringify(block);
  if (state.lastStatus === fingerprint) return;
  state.lastStatus = fingerprint;
  const zero = state.slots[0]!.view;
  ctx.status
    .update((s) => {
      (s as unknown as Record<string, unknown>).shards = block;
      s.leader = { host: zero.leaderHost, since: iso(zero.since), active: zero.holder, epoch: zero.epoch };
    })
    .catch(() => undefined);
}

/** This runtime holds at least one shard lease: collecting (`collecting`), or on paper too (paused, degraded: it must keep beating). */
export function holdsAnyShard(local: LocalSlots, collecting = false): boolean {
  const state = shardStateOf(local);
  if (!state) return false;
  return state.slots.some((s) => s.view.holder || (!collecting && s.own.get(LEADER_MEMORY_SLOT)?.held));
}
