// runtime/leader/follower.ts
// The follower's side of the collector lease state machine: watch the lease, take it when absent, released or stale, ask for a handover.

import type { FnContext } from '../define.ts';
import { isBtcError } from '../errors.ts';
import {
  leaseTimings,
  newLeaseDoc,
  observe,
  publishLeaderStatus,
  readLease,
  setLeaseView,
  writeLease,
  type LeaderMemory,
  type LeaseDoc,
  type ObservedLease,
} from '../lease.ts';
import { beatResult, type BeatOutput } from './outcome.ts';

// The writes here are S3 conditional PutObjects on the primary (runtime/lease.ts writeLease; AWS
// S3 User Guide, "How to prevent object overwrites with conditional writes"): taking an absent
// lease is create-only, `If-None-Match: *` (of racing creators exactly one gets 200, the others
// 412, or 409 ConditionalRequestConflict while another write is in flight); taking a released or
// stale lease, and asking for a handover, is `If-Match: <the ETag we observed>` (412 when anyone
// wrote it since, 404 NoSuchKey when it is gone). The store maps 412 and 409 to
// `PreconditionFailed` and the 404 to `NotFound` (docs/storage.md): both mean "lost the race".

/**
 * What a follower may do besides taking a lease that was handed over to it: the one-lease
 * default takes any absent, released or stale lease and asks for a handover when this host is
 * BTC_TS_PREFERRED_LEADER; shards cap bids at a fair share and ask only to even the split.
 */
export interface FollowerPolicy {
  /** May this runtime take the lease now (absent, released, or stale by its own clock)? */
  mayAcquire(why: 'absent' | 'released' | 'stale', doc: LeaseDoc | null): boolean;
  /** Ask the holder (live, not already asked) to hand the lease over to this host? */
  wantHandover(doc: LeaseDoc): boolean;
}

/** The one-lease policy: take whatever is takeable; handovers only for BTC_TS_PREFERRED_LEADER (lease.preferredLeader). */
export const DEFAULT_POLICY: FollowerPolicy = {
  mayAcquire: () => true,
  wantHandover: () => false,
};

/**
 * One beat of a runtime that does not hold the lease: one GET of the lease, then take it (absent,
 * released, released for this host, or stale: its ETag unchanged for `leaseSeconds` × 1000 ms on
 * this host's monotonic clock, never compared with another PC's clock), ask for a handover, or
 * follow. An acquire of ours that timed out but landed (the lease names this host and pid) is
 * adopted. Returns `acquired`, `following`, `handover_requested`, `lost_race` or `unreachable`.
 * @throws BtcError from the read or the writes other than `Unavailable` (reported as
 * `unreachable`), `PreconditionFailed` and `NotFound` (a lost race): `Internal` for a refusal by a
 * primary that is up (AccessDenied, a skewed signature), `InvalidKey`; and what the local audit log throws.
 */
export async function followerBeat(ctx: FnContext, mem: LeaderMemory, policy: FollowerPolicy = DEFAULT_POLICY): Promise<BeatOutput> {
  let current: ObservedLease | null;
  try {
    current = await readLease(ctx);
  } catch (err) {
    if (isBtcError(err, 'Unavailable')) return beatResult(ctx, 'unreachable', ctx.masker.text(err.message));
    throw err;
  }
  if (!current) return policy.mayAcquire('absent', null) ? acquire(ctx, mem, null, 'absent') : beatResult(ctx, 'following', 'absent; over this host\'s share');
  const doc = current.doc;
  if (doc && doc.host === ctx.host && doc.pid === ctx.pid && !doc.released) {
    // An acquire of ours that timed out but landed: the lease names this very process.
    return acquire(ctx, mem, current, 'own write landed late', doc);
  }
  const observed = observe(ctx, mem, current);
  setLeaseView(ctx.lease, { leaderHost: doc && !doc.released ? doc.host : null, epoch: doc?.epoch ?? ctx.lease.epoch });
  publishLeaderStatus(ctx, mem, doc);

  // A lease we released ourselves is left to the others; we take it back only once it is stale.
  const releasedBySelf = doc?.host === ctx.host && doc.pid === ctx.pid;
  if (doc?.released && !releasedBySelf && (!doc.handover_to || doc.handover_to === ctx.host) && (doc.handover_to === ctx.host || policy.mayAcquire('released', doc))) {
    return acquire(ctx, mem, current, doc.handover_to ? 'handover' : 'released');
  }
  const { leaseMs } = leaseTimings(ctx);
  const unchangedMs = ctx.clock.monotonicMs() - observed.firstSeenMono;
  if (unchangedMs >= leaseMs) {
    if (!observed.staleReported) {
      observed.staleReported = true;
      await ctx.audit.record('collector.leader.stale_detected', {
        host: doc?.host ?? null,
        epoch: doc?.epoch ?? null,
        reason: doc?.released ? `released for ${doc.handover_to} but not taken` : 'no renew within the lease',
        unchanged_ms: Math.round(unchangedMs),
        lease_ms: leaseMs,
      });
    }
    if (policy.mayAcquire('stale', doc)) return acquire(ctx, mem, current, 'stale');
    return beatResult(ctx, 'following', 'stale; over this host\'s share');
  }
  const preferred = ctx.config.lease.preferredLeader;
  if (doc && !doc.released && doc.host !== ctx.host && doc.handover_to === undefined && (preferred === ctx.host || policy.wantHandover(doc))) {
    return requestHandover(ctx, mem, current, doc);
  }
  return beatResult(ctx, 'following');
}

/** Takes the lease: create-only when absent, else `ifMatch` on the ETag we observed, always `epoch + 1`. */
async function acquire(ctx: FnContext, mem: LeaderMemory, current: ObservedLease | null, reason: string, ownDoc?: LeaseDoc): Promise<BeatOutput> {
  const previous = current?.doc ?? null;
  const sentMono = ctx.clock.monotonicMs();
  const sentWall = ctx.clock.now();
  let doc: LeaseDoc;
  let etag: string;
  if (ownDoc && current) {
    doc = ownDoc;
    etag = current.etag;
  } else {
    doc = newLeaseDoc(ctx, Math.max(previous?.epoch ?? 0, mem.maxEpochSeen) + 1);
    try {
      etag = await writeLease(ctx, doc, current ? { ifMatch: current.etag } : { ifNoneMatch: '*' });
    } catch (err) {
      if (isBtcError(err, 'PreconditionFailed') || isBtcError(err, 'NotFound')) {
        mem.observed = null; // someone else won; watch what they wrote from the next beat
        return beatResult(ctx, 'lost_race', reason);
      }
      if (isBtcError(err, 'Unavailable')) return beatResult(ctx, 'unreachable', ctx.masker.text(err.message));
      throw err;
    }
  }
  mem.held = {
    etag,
    doc,
    lastWriteOkMono: sentMono,
    lastWriteOkWall: sentWall,
    lastRenewAuditMono: sentMono,
    renewsSinceAudit: 0,
    degradedSinceWall: null,
    degradedCause: null,
    lastBeatMono: sentMono,
    lastBeatWall: sentWall,
    paused: null,
  };
  mem.observed = null;
  mem.maxEpochSeen = Math.max(mem.maxEpochSeen, doc.epoch);
  setLeaseView(ctx.lease, { holder: true, epoch: doc.epoch, leaderHost: ctx.host, since: sentWall, degraded: false });
  await ctx.audit.record('collector.leader.acquire', {
    host: ctx.host,
    epoch: doc.epoch,
    reason,
    previous_host: previous?.host ?? null,
    previous_epoch: previous?.epoch ?? null,
  });
  publishLeaderStatus(ctx, mem, doc);
  return beatResult(ctx, 'acquired', reason);
}

/** Preferred leader back: ask the holder (ifMatch) to release on its next beat. */
async function requestHandover(ctx: FnContext, mem: LeaderMemory, current: ObservedLease, doc: LeaseDoc): Promise<BeatOutput> {
  try {
    const etag = await writeLease(ctx, { ...doc, handover_to: ctx.host }, { ifMatch: current.etag });
    mem.observed = { etag, firstSeenMono: ctx.clock.monotonicMs(), staleReported: false };
  } catch (err) {
    if (isBtcError(err, 'PreconditionFailed') || isBtcError(err, 'NotFound')) return beatResult(ctx, 'following', 'handover request raced a renew; retry next beat');
    if (isBtcError(err, 'Unavailable')) return beatResult(ctx, 'unreachable', ctx.masker.text(err.message));
    throw err;
  }
  await ctx.audit.record('collector.leader.handover_request', { host: doc.host, epoch: doc.epoch, to: ctx.host });
  return beatResult(ctx, 'handover_requested', `asked ${doc.host} to hand over`);
}
