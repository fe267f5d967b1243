// runtime/leader/shard-state.ts
// What this runtime keeps of its shard leases between beats: one slot per shard (view, own lease memory, document), membership, fair share, preference hysteresis.

import type { FnContext, LeaseView } from '../define.ts';
import { LEADER_MEMORY_SLOT, LEASE_KEY_SLOT, type LeaseDoc } from '../lease.ts';
import { defineSlot, LocalSlots } from '../local-slots.ts';
import { shardLeaseKey } from '../keys.ts';
import { preferredHosts, shardCount } from './shard-map.ts';

/** A runtime's heartbeat object as last observed (staleness on this runtime's monotonic clock, like the lease). */
export interface MemberSeen {
  etag: string;
  firstSeenMono: number;
  shards: number | null;
  /** The shards its own config prefers it for (its heartbeat object's `preferred`). */
  preferred?: number[];
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

/** The shard state of this runtime, or null with one shard (nothing here runs then). */
export function shardStateOf(local: LocalSlots): ShardState | null {
  return local.get(SHARDS_SLOT) ?? null;
}

/** This runtime's shard state, made (or remade when `collector.shards` changed) on the sharded heartbeat. */
export function ensureState(ctx: FnContext): ShardState {
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

/** This runtime holds at least one shard lease: collecting (`collecting`), or on paper too (paused, degraded: it must keep beating). */
export function holdsAnyShard(local: LocalSlots, collecting = false): boolean {
  const state = shardStateOf(local);
  if (!state) return false;
  return state.slots.some((s) => s.view.holder || (!collecting && s.own.get(LEADER_MEMORY_SLOT)?.held));
}
