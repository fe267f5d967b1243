// runtime/leader/shards.ts
// Shards of streams, one lease each: the stable stream → shard map, membership from heartbeat objects, fair-share bidding, per-shard lease contexts.

import type { AppConfig } from '../../config/schema.ts';
import type { AuditEventName, AuditEvents } from '../audit-events.ts';
import type { FnContext, LeaseView } from '../define.ts';
import { backoffDelay, withTimeout } from '../async.ts';
import { isBtcError } from '../errors.ts';
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
import { LEASE_KEY, memberKey, MEMBERS_PREFIX, parseMemberKey, shardLeaseKey } from '../keys.ts';
import { followerBeat } from './follower.ts';
import { holderBeat, releaseLease } from './holder.ts';
import type { BeatOutput } from './outcome.ts';

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

/** Base hysteresis of a preferred host, ms: `lease.preferredSettleSeconds`, default three leases. */
export function settleBaseMs(config: AppConfig): number {
  return (config.lease.preferredSettleSeconds ?? 3 * config.lease.leaseSeconds) * 1000;
}
/** The settle time doubles per flap up to this many doublings (16 × the base). */
const MAX_FLAP_DOUBLINGS = 4;
/** A preferred host live this many settle times in a row without losing a lease is forgiven its flaps. */
const FORGIVE_AFTER_SETTLES = 4;

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

/** A runtime's heartbeat object as last observed (staleness on this runtime's monotonic clock, like the lease). */
interface MemberSeen {
  etag: string;
  firstSeenMono: number;
  shards: number | null;
  /** The shards its own config prefers it for (its heartbeat object's `preferred`). */
  preferred?: number[];
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

/**
 * Who prefers which shard, from what each live runtime says of itself (its own config, published in
 * its heartbeat object), so runtimes whose configs disagree can never pull a shard back and forth:
 * a shard two live runtimes claim is preferred by neither (logged and audited
 * `collector.shards.preferred_conflict` when the set changes).
 */
async function noteOwners(ctx: FnContext, state: ShardState, live: string[]): Promise<void> {
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
async function noteHealth(ctx: FnContext, state: ShardState, membershipOk: boolean, renews: Array<BeatOutput | null>): Promise<void> {
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
function settleMsOf(ctx: Pick<FnContext, 'config'>, flaps: number): number {
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
async function beatMembership(ctx: FnContext, state: ShardState, leaseMs: number): Promise<boolean> {
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
