// runtime/lease.ts
// The collector lease object (locks/collector.leader): its shape, conditional reads/writes on the primary, fencing helpers.

import { z } from 'zod';
import type { FnContext, LeaseView } from './define.ts';
import { withTimeout } from './async.ts';
import { BtcError, isBtcError } from './errors.ts';
import { LEASE_KEY } from './keys.ts';
import { defineSlot } from './local-slots.ts';

/**
 * `ctx.local` slot naming the lease object this context beats on: written by runtime/leader/shard-state.ts
 * in each shard's own slots, read by leaseKeyOf; absent = LEASE_KEY, the one lease of `collector.shards: 1`.
 */
export const LEASE_KEY_SLOT = defineSlot<string>('leader:lease-key');
/**
 * `ctx.local` slot of a status publisher replacing the `leader` block: written by
 * runtime/leader/shards.ts (a shard's context writes its own row instead), read by
 * publishLeaderStatus; absent = publishLeaderStatus writes `leader` as always.
 */
export const LEASE_STATUS_SLOT = defineSlot<(doc: LeaseDoc | null) => void>('leader:publish-status');

/** The lease object key of this context: a shard's own key, else LEASE_KEY. */
export function leaseKeyOf(ctx: Pick<FnContext, 'local'>): string {
  return ctx.local.get(LEASE_KEY_SLOT) ?? LEASE_KEY;
}

/** CONTRACT.md: `{ host, pid, started_at, heartbeat_ms, epoch, lease_seconds, released?, handover_to? }`. */
export const leaseDocSchema = z.looseObject({
  host: z.string().min(1),
  pid: z.number().int(),
  /** Holder's wall clock when it took this epoch (informational: never compared across hosts). */
  started_at: z.string(),
  /** Holder's wall clock at its last renew (informational only; staleness is judged by ETag age). */
  heartbeat_ms: z.number(),
  epoch: z.number().int().nonnegative(),
  lease_seconds: z.number().positive(),
  released: z.boolean().optional(),
  handover_to: z.string().optional(),
});
export type LeaseDoc = z.infer<typeof leaseDocSchema>;

/** The lease as read: its ETag always, its document when it parses (null = corrupt, still takeable when stale). */
export interface ObservedLease {
  etag: string;
  doc: LeaseDoc | null;
}

/**
 * What one runtime remembers between heartbeats (kept in `ctx.local`, never in the store: a
 * candidate's observation of the ETag is only meaningful on its own monotonic clock).
 */
export interface LeaderMemory {
  held: null | {
    etag: string;
    doc: LeaseDoc;
    /** Monotonic / wall time when the last successful renew (or the acquire) was sent. */
    lastWriteOkMono: number;
    lastWriteOkWall: number;
    lastRenewAuditMono: number;
    renewsSinceAudit: number;
    /** Wall time the primary first failed us while holding (degraded), else null. */
    degradedSinceWall: number | null;
    /** Why we are degraded: `network`, or the S3 code of a refusal (`AccessDenied`, …); audited when it changes. */
    degradedCause: string | null;
    /** Monotonic / wall time of the previous holder beat, whatever its outcome: the base of the wall-jump check. */
    lastBeatMono: number;
    lastBeatWall: number;
    /**
     * Set while we hold the lease on paper but must not collect (the view says `holder: false`):
     * after a suspend or a lapse of the lease on our own clock, until a renew succeeds; after a
     * 412 whose read failed, until we learn who wrote the lease.
     */
    paused: null | PausedHolder;
  };
  observed: null | { etag: string; firstSeenMono: number; staleReported: boolean };
  /** Highest epoch ever seen, so a lease recreated after a (forbidden) delete still moves forward. */
  maxEpochSeen: number;
  /** The leader block last written to status, to write it only on change. */
  lastStatus?: string;
}

/** Why a holder stopped collecting before it knows whether it still holds the lease. */
export interface PausedHolder {
  /**
   * `suspended`: the wall clock jumped ahead of the monotonic one by more than a lease (the PC
   * slept); `lapsed`: a whole lease passed on our monotonic clock since the last good renew
   * (a stalled process); `conflict`: a renew got 412 and we have not yet read who wrote the lease.
   */
  reason: 'suspended' | 'lapsed' | 'conflict';
  /** Wall ms when we stopped collecting. */
  sinceWall: number;
  /** For `suspended`: wall ms of the last beat before the jump and of the first one after it. */
  suspended: null | { fromWall: number; toWall: number };
}

/** What this context remembers between heartbeats: made and read by leaderMemory (the lease state machine, runtime/leader/); a shard's context keeps its own (runtime/leader/shards.ts). */
export const LEADER_MEMORY_SLOT = defineSlot<LeaderMemory>('leader-heartbeat');

export function leaderMemory(ctx: FnContext): LeaderMemory {
  return ctx.local.ensure(LEADER_MEMORY_SLOT, () => ({ held: null, observed: null, maxEpochSeen: 0 }));
}

/** Timings from the config, in ms. */
export function leaseTimings(ctx: FnContext) {
  const leaseMs = ctx.config.lease.leaseSeconds * 1000;
  return {
    leaseMs,
    heartbeatMs: ctx.config.lease.heartbeatSeconds * 1000,
    /** A lease call slower than this counts as unreachable: a renew that late is useless anyway. */
    opTimeoutMs: Math.max(1000, Math.round(leaseMs / 3)),
  };
}

/**
 * How a failed renew (or lease read) is handled: `conflict` = someone else wrote the lease (412,
 * 409 ConditionalRequestConflict, or 404 on If-Match: it is gone); `refused` = the primary
 * answered with a 4xx that is not about the network (AccessDenied, RequestTimeTooSkewed,
 * NoSuchBucket, …: it is up, it said no); `network` = unreachable, 5xx after retries, 408/429,
 * timed out — we cannot tell what the primary holds.
 */
export interface RenewFailure {
  kind: 'conflict' | 'refused' | 'network';
  /** What status, audit and logs name: `PreconditionFailed`, the S3 code of a refusal, or `network`. */
  cause: string;
}

export function classifyRenewFailure(err: unknown): RenewFailure {
  if (isBtcError(err, 'PreconditionFailed') || isBtcError(err, 'NotFound')) return { kind: 'conflict', cause: 'PreconditionFailed' };
  const details = (isBtcError(err) ? err.details : undefined) as { status?: number; s3?: string } | undefined;
  const status = details?.status;
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return { kind: 'refused', cause: details?.s3 ?? `S3 ${status}` };
  }
  return { kind: 'network', cause: 'network' };
}

/** The lease always lives on the primary (never the cache: a lease only one PC can see fences nothing). */
export async function readLease(ctx: FnContext): Promise<ObservedLease | null> {
  const key = leaseKeyOf(ctx);
  const got = await withTimeout(ctx.store.primary.getOrNull(key), leaseTimings(ctx).opTimeoutMs, 'lease call');
  if (!got) return null;
  let doc: LeaseDoc | null = null;
  try {
    doc = leaseDocSchema.parse(JSON.parse(got.body.toString('utf8')));
  } catch (err) {
    ctx.log.warn({ key, err: String(err).slice(0, 200) }, 'lease object unreadable; treated as held by an unknown host');
  }
  return { etag: got.etag, doc };
}

/** Conditional write of the lease on the primary; PreconditionFailed / NotFound mean someone else changed it. */
export async function writeLease(ctx: FnContext, doc: LeaseDoc, condition: { ifMatch: string } | { ifNoneMatch: '*' }): Promise<string> {
  const put = await withTimeout(
    ctx.store.primary.put(leaseKeyOf(ctx), JSON.stringify(doc), { contentType: 'application/json', ...condition }),
    leaseTimings(ctx).opTimeoutMs,
    'lease call',
  );
  return put.etag;
}

/** A fresh lease document for this host at `epoch`. */
export function newLeaseDoc(ctx: FnContext, epoch: number): LeaseDoc {
  const now = ctx.clock.now();
  return {
    host: ctx.host,
    pid: ctx.pid,
    started_at: new Date(now).toISOString(),
    heartbeat_ms: now,
    epoch,
    lease_seconds: ctx.config.lease.leaseSeconds,
  };
}

/** The lease document was written by this very process for the epoch it holds. */
export function isOwnLease(ctx: FnContext, doc: LeaseDoc | null, epoch: number): doc is LeaseDoc {
  return !!doc && doc.host === ctx.host && doc.pid === ctx.pid && doc.epoch === epoch;
}

/** This runtime holds the lease object, collecting or paused: it must keep beating whatever its mode. */
export function holdsLease(ctx: FnContext): boolean {
  return ctx.lease.holder || leaderMemory(ctx).held !== null;
}

/** Updates the shared LeaseView in place (every duty and /health read the same object). */
export function setLeaseView(view: LeaseView, next: Partial<LeaseView>): void {
  const before = { holder: view.holder, epoch: view.epoch };
  Object.assign(view, next);
  if (before.holder === view.holder && (!view.holder || before.epoch === view.epoch)) return;
  // Synchronously, before the caller's next await: a step-down stops what collects at once.
  for (const listener of leaseListeners.get(view) ?? []) {
    try {
      listener(view);
    } catch {
      // A listener's failure must not keep the lease duty from stepping down.
    }
  }
}

const leaseListeners = new WeakMap<LeaseView, Set<(view: LeaseView) => void>>();

/**
 * Calls `listener` synchronously whenever this view starts or stops holding the lease, or holds a
 * new epoch (acquire, step-down, release, pause). WebSocket streams start and stop on it
 * (runtime/collector/ws/). Returns the unsubscribe function.
 */
export function onLeaseChange(view: LeaseView, listener: (view: LeaseView) => void): () => void {
  let set = leaseListeners.get(view);
  if (!set) leaseListeners.set(view, (set = new Set()));
  set.add(listener);
  return () => void set.delete(listener);
}

/**
 * The fencing token for a write that only the holder may do: the current epoch, or a
 * PreconditionFailed when this runtime does not hold the lease. Duties stamp it on every record
 * and segment key, so an overlap between two holders is always visible afterwards.
 */
export function requireLease(lease: LeaseView): number {
  if (!lease.holder) {
    throw new BtcError('PreconditionFailed', `not the lease holder (leader: ${lease.leaderHost ?? 'none'}, epoch ${lease.epoch})`);
  }
  return lease.epoch;
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Writes the lease back with `released: true` (ifMatch); false when that did not go through. */
export async function writeReleased(ctx: FnContext, mem: LeaderMemory, current: ObservedLease, epoch: number): Promise<boolean> {
  const doc: LeaseDoc = { ...(current.doc ?? newLeaseDoc(ctx, epoch)), heartbeat_ms: ctx.clock.now(), released: true };
  try {
    const etag = await writeLease(ctx, doc, { ifMatch: current.etag });
    observe(ctx, mem, { etag, doc });
    return true;
  } catch (err) {
    ctx.log.warn({ epoch, err: ctx.masker.text(String((err as Error).message ?? err)) }, 'writing the released lease failed');
    return false;
  }
}

/** What the old holder collected under its epoch goes up before the next holder starts. */
export async function flushBeforeRelease(ctx: FnContext): Promise<void> {
  try {
    await ctx.streams.ship(ctx.store);
    await ctx.audit.ship(ctx.store);
  } catch (err) {
    // The records stay durable in the local segments under our epoch; sync carries them later.
    ctx.log.warn({ err: ctx.masker.text(String(err)) }, 'flush before release failed; segments stay in the cache');
  }
}

/** Staleness clock: starts when this host first sees an ETag, on its own monotonic clock. */
export function observe(ctx: FnContext, mem: LeaderMemory, current: ObservedLease): NonNullable<LeaderMemory['observed']> {
  if (current.doc) mem.maxEpochSeen = Math.max(mem.maxEpochSeen, current.doc.epoch);
  if (!mem.observed || mem.observed.etag !== current.etag) {
    mem.observed = { etag: current.etag, firstSeenMono: ctx.clock.monotonicMs(), staleReported: false };
  }
  return mem.observed;
}

/** Writes `leader: { host, since, active, epoch, degraded }` into this host's status when it changed. */
export function publishLeaderStatus(ctx: FnContext, mem: LeaderMemory, doc: LeaseDoc | null): void {
  const hook = ctx.local.get(LEASE_STATUS_SLOT);
  if (hook) return hook(doc);
  const view = ctx.lease;
  const leader = {
    host: view.leaderHost,
    // The holder's own acquire time; for a follower the holder's started_at as it wrote it (informational).
    since: view.holder ? iso(view.since) : view.leaderHost && doc && !doc.released ? doc.started_at : null,
    active: view.holder,
    epoch: view.epoch,
    degraded: view.degraded,
  };
  ctx.metrics?.noteLeaseEpoch(view.epoch);
  const fingerprint = JSON.stringify(leader);
  if (mem.lastStatus === fingerprint) return;
  mem.lastStatus = fingerprint;
  // Not awaited: a status write (maybe into the cache) must never delay the lease.
  ctx.status.update((s) => void (s.leader = leader)).catch(() => undefined);
}

