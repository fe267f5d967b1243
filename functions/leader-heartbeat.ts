// functions/leader-heartbeat.ts
// The collector lease: acquire, renew, step down, take over a stale lease, hand over to the preferred leader, release.

import { z } from 'zod';
import { defineFunction, type FnContext } from '../runtime/define.ts';
import { LEASE_LOST_AT_KEY } from '../runtime/diag-reasons.ts';
import { isBtcError } from '../runtime/errors.ts';
import {
  classifyRenewFailure,
  flushBeforeRelease,
  iso,
  isOwnLease,
  leaderMemory,
  leaseTimings,
  newLeaseDoc,
  observe,
  publishLeaderStatus,
  readLease,
  setLeaseView,
  writeLease,
  writeReleased,
  type LeaderMemory,
  type LeaseDoc,
  type ObservedLease,
} from '../runtime/lease.ts';
import { pause, pauseIfLapsed, resume, suspendedRange } from '../runtime/lease-pause.ts';
import { shardedBeat } from '../runtime/leader/shards.ts';

/** Renews are audited at most this often (a heartbeat every few seconds would drown the trail). */
const RENEW_AUDIT_EVERY_MS = 60_000;

const ACTIONS = [
  'acquired',
  'renewed',
  'resynced',
  'degraded',
  'stepped_down',
  'paused',
  'released',
  'following',
  'handover_requested',
  'lost_race',
  'unreachable',
  'none',
] as const;
type Action = (typeof ACTIONS)[number];

const output = z.object({
  action: z.enum(ACTIONS),
  holder: z.boolean(),
  leader: z.string().nullable(),
  epoch: z.number(),
  degraded: z.boolean(),
  detail: z.string().optional(),
});
type Output = z.infer<typeof output>;

export default defineFunction({
  name: 'leader-heartbeat',
  description:
    'One beat of the collector lease (locks/collector.leader on the primary): renew when holding, else watch it and take it when absent, released or stale by this host\'s own monotonic clock. `{"action":"release"}` gives it up.',
  input: z.object({ action: z.enum(['heartbeat', 'release']).default('heartbeat') }).strict(),
  output,
  async run(input, ctx) {
    // collector.shards > 1: one lease per shard, each beaten by this same state machine (runtime/leader/shards.ts).
    if ((ctx.config.collector.shards ?? 1) > 1) return shardedBeat(ctx, MACHINE, input.action);
    const mem = leaderMemory(ctx);
    if (input.action === 'release') return releaseLease(ctx, mem, 'requested');
    return mem.held ? holderBeat(ctx, mem) : followerBeat(ctx, mem);
  },
  /** Graceful shutdown (SIGTERM): give the lease up so the standby takes it at its next beat, not after a lease. */
  async onShutdown(ctx) {
    if ((ctx.config.collector.shards ?? 1) > 1) return void (await shardedBeat(ctx, MACHINE, 'release'));
    const mem = leaderMemory(ctx);
    if (mem.held) await releaseLease(ctx, mem, 'shutdown');
  },
});

// ── holder ────────────────────────────────────────────────────────────────────────────────────

export async function holderBeat(ctx: FnContext, mem: LeaderMemory): Promise<Output> {
  const held = mem.held!;
  // Synchronous, before the first await: a holder that slept or stalled stops collecting now.
  pauseIfLapsed(ctx, mem);
  // A handover request we adopted with our own late write: honour it instead of renewing over it.
  if (held.doc.handover_to && held.doc.handover_to !== ctx.host) return handOver(ctx, mem, { etag: held.etag, doc: held.doc }, held.doc);
  const doc: LeaseDoc = { ...held.doc, heartbeat_ms: ctx.clock.now() };
  const sentMono = ctx.clock.monotonicMs();
  const sentWall = ctx.clock.now();
  try {
    held.etag = await writeLease(ctx, doc, { ifMatch: held.etag });
  } catch (err) {
    const failure = classifyRenewFailure(err);
    const why = errorText(ctx, err);
    if (failure.kind === 'conflict') return renewRefused(ctx, mem);
    if (failure.kind === 'refused') return renewDenied(ctx, mem, why, failure.cause);
    // Unreachable or timed out: we cannot tell whether anyone else could take it, so keep the role.
    return degrade(ctx, mem, why, failure.cause);
  }
  held.doc = doc;
  held.lastWriteOkMono = sentMono;
  held.lastWriteOkWall = sentWall;
  // The renew went through on the old ETag: nobody took the lease while we slept or were cut off.
  if (held.paused) await resume(ctx, mem);
  if (held.degradedSinceWall !== null) {
    await ctx.audit.record('collector.leader.recovered', { host: ctx.host, epoch: doc.epoch, degraded_since: iso(held.degradedSinceWall), cause: held.degradedCause });
    held.degradedSinceWall = null;
    held.degradedCause = null;
    setLeaseView(ctx.lease, { degraded: false });
    publishLeaderStatus(ctx, mem, doc);
  }
  held.renewsSinceAudit++;
  if (sentMono - held.lastRenewAuditMono >= RENEW_AUDIT_EVERY_MS) {
    await ctx.audit.record('collector.leader.renew', { host: ctx.host, epoch: doc.epoch, reason: 'periodic', renews: held.renewsSinceAudit });
    held.lastRenewAuditMono = sentMono;
    held.renewsSinceAudit = 0;
  }
  return result(ctx, 'renewed');
}

/**
 * The primary failed us while holding. Unreachable: keep collecting into the cache (nobody can take
 * the lease through a NAS that is down). Audited once per cause (`network` or the S3 code).
 */
async function degrade(ctx: FnContext, mem: LeaderMemory, why: string, cause: string): Promise<Output> {
  const held = mem.held!;
  if (held.degradedSinceWall === null || held.degradedCause !== cause) {
    held.degradedSinceWall ??= ctx.clock.now();
    held.degradedCause = cause;
    setLeaseView(ctx.lease, { degraded: true });
    ctx.log.warn({ epoch: held.doc.epoch, cause, err: why }, `lease renew failed (${cause}); keeping the lease, degraded`);
    await ctx.audit.record('collector.leader.degraded', { host: ctx.host, epoch: held.doc.epoch, reason: why, cause });
    publishLeaderStatus(ctx, mem, held.doc);
  }
  return result(ctx, held.paused ? 'paused' : 'degraded', why);
}

/**
 * A renew refused by a primary that is up (4xx other than 412/404: AccessDenied, a skewed
 * signature, …). Unlike a cut-off, the others may well reach the lease, so read it now: another
 * host at a newer epoch means we lost it, and we step down at once instead of collecting on.
 */
async function renewDenied(ctx: FnContext, mem: LeaderMemory, why: string, cause: string): Promise<Output> {
  const held = mem.held!;
  let current: ObservedLease | null;
  try {
    current = await readLease(ctx);
  } catch {
    return degrade(ctx, mem, why, cause); // the read is refused too: we cannot tell, as when cut off
  }
  const doc = current?.doc ?? null;
  if (current && doc && doc.epoch > held.doc.epoch) return stepDown(ctx, mem, current, cause);
  if (current && isOwnLease(ctx, doc, held.doc.epoch) && current.etag !== held.etag) {
    if (doc.handover_to && doc.handover_to !== ctx.host) return handOver(ctx, mem, current, doc);
    held.etag = current.etag; // our own earlier renew landed late
    held.doc = doc;
  }
  return degrade(ctx, mem, why, cause);
}

/**
 * A renew got 412: someone wrote the lease after our last renew — a handover request, our own
 * late write, or another holder. Stop collecting before anything else, then read to learn which.
 */
async function renewRefused(ctx: FnContext, mem: LeaderMemory): Promise<Output> {
  const held = mem.held!;
  if (!held.paused) pause(ctx, mem, 'conflict', null);
  let current: ObservedLease | null;
  try {
    current = await readLease(ctx);
  } catch (err) {
    // Stay paused: the 412 is proof the lease moved; the next beat's renew (412 again) reads again.
    return degrade(ctx, mem, errorText(ctx, err), classifyRenewFailure(err).cause);
  }
  if (current && isOwnLease(ctx, current.doc, held.doc.epoch) && !current.doc.released) {
    if (current.doc.handover_to && current.doc.handover_to !== ctx.host) return handOver(ctx, mem, current, current.doc);
    // A renew that timed out here landed later: the lease is still ours, continue from its ETag.
    held.etag = current.etag;
    held.doc = current.doc;
    await resume(ctx, mem);
    return result(ctx, 'resynced');
  }
  return stepDown(ctx, mem, current, 'PreconditionFailed');
}

/**
 * We lost the lease: stop collecting at once; audit the window in which two may have collected.
 * `cause` is what the renew got: `PreconditionFailed` (412) or the S3 code of a refusal.
 */
async function stepDown(ctx: FnContext, mem: LeaderMemory, current: ObservedLease | null, cause: string): Promise<Output> {
  const held = mem.held!;
  mem.held = null;
  // A lost lease turns this host DIAG for diag.leaseLostSeconds (runtime/diag-reasons.ts).
  ctx.local.set(LEASE_LOST_AT_KEY, ctx.clock.now());
  const other = current?.doc ?? null;
  setLeaseView(ctx.lease, { holder: false, since: null, degraded: false, leaderHost: other && !other.released ? other.host : null, epoch: other?.epoch ?? held.doc.epoch });
  if (current) observe(ctx, mem, current);
  const { leaseMs } = leaseTimings(ctx);
  const now = ctx.clock.now();
  // Past our own lease (cut off, stalled, or asleep) another host may have been collecting since
  // lastWriteOk + lease: that bound is on our own clock, so it needs no agreement between PCs.
  // A suspended PC's monotonic clock says almost nothing passed, hence the wall-jump check too.
  const suspended = held.paused?.suspended ?? null;
  if (held.degradedSinceWall !== null || suspended || ctx.clock.monotonicMs() - held.lastWriteOkMono >= leaseMs) {
    await ctx.audit.record('collector.leader.overlap', {
      host: ctx.host,
      epoch: held.doc.epoch,
      other_host: other?.host ?? null,
      other_epoch: other?.epoch ?? null,
      from: iso(held.lastWriteOkWall + leaseMs),
      to: iso(now),
      degraded_since: iso(held.degradedSinceWall),
      ...(held.paused ? suspendedRange(held.paused) : {}),
      other_started_at: other?.started_at ?? null,
      cause,
    });
  }
  const reason = current ? `lost: taken by ${other?.host ?? 'an unreadable lease'} at epoch ${other?.epoch ?? '?'}` : 'lost: lease object deleted';
  await ctx.audit.record('collector.leader.release', { host: ctx.host, epoch: held.doc.epoch, reason, cause });
  ctx.log.warn({ epoch: held.doc.epoch, reason, cause }, 'stepped down from the collector lease');
  publishLeaderStatus(ctx, mem, other);
  return result(ctx, 'stepped_down', reason);
}

/** The preferred leader asked for the lease: stop collecting, flush, then write `released`. */
async function handOver(ctx: FnContext, mem: LeaderMemory, current: ObservedLease, doc: LeaseDoc): Promise<Output> {
  const held = mem.held!;
  mem.held = null;
  setLeaseView(ctx.lease, { holder: false, since: null, degraded: false, leaderHost: null });
  await flushBeforeRelease(ctx);
  const reason = `handover to ${doc.handover_to}`;
  const released = await writeReleased(ctx, mem, current, held.doc.epoch);
  await ctx.audit.record('collector.leader.release', { host: ctx.host, epoch: held.doc.epoch, reason: released ? reason : `${reason} (release not written; lease goes stale)` });
  publishLeaderStatus(ctx, mem, doc);
  return result(ctx, 'released', reason);
}

/** Gives the lease up on purpose (shutdown, an operator): never leaves it for others to wait out. */
export async function releaseLease(ctx: FnContext, mem: LeaderMemory, why: string): Promise<Output> {
  const held = mem.held;
  if (!held) return result(ctx, 'none', 'not the holder');
  mem.held = null;
  setLeaseView(ctx.lease, { holder: false, since: null, degraded: false, leaderHost: null });
  await flushBeforeRelease(ctx);
  let released = await writeReleased(ctx, mem, { etag: held.etag, doc: held.doc }, held.doc.epoch);
  if (!released) {
    // Our ETag may be behind our own late write or a handover request: retry once on what is there.
    const current = await readLease(ctx).catch(() => null);
    if (current && isOwnLease(ctx, current.doc, held.doc.epoch) && !current.doc.released) {
      released = await writeReleased(ctx, mem, current, held.doc.epoch);
    }
  }
  await ctx.audit.record('collector.leader.release', { host: ctx.host, epoch: held.doc.epoch, reason: released ? why : `${why} (release not written; lease goes stale)` });
  publishLeaderStatus(ctx, mem, null);
  return result(ctx, released ? 'released' : 'stepped_down', why);
}

// ── follower ──────────────────────────────────────────────────────────────────────────────────

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

export const DEFAULT_POLICY: FollowerPolicy = {
  mayAcquire: () => true,
  wantHandover: () => false,
};

export async function followerBeat(ctx: FnContext, mem: LeaderMemory, policy: FollowerPolicy = DEFAULT_POLICY): Promise<Output> {
  let current: ObservedLease | null;
  try {
    current = await readLease(ctx);
  } catch (err) {
    if (isBtcError(err, 'Unavailable')) return result(ctx, 'unreachable', ctx.masker.text(err.message));
    throw err;
  }
  if (!current) return policy.mayAcquire('absent', null) ? acquire(ctx, mem, null, 'absent') : result(ctx, 'following', 'absent; over this host\'s share');
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
    return result(ctx, 'following', 'stale; over this host\'s share');
  }
  const preferred = ctx.config.lease.preferredLeader;
  if (doc && !doc.released && doc.host !== ctx.host && doc.handover_to === undefined && (preferred === ctx.host || policy.wantHandover(doc))) {
    return requestHandover(ctx, mem, current, doc);
  }
  return result(ctx, 'following');
}

/** Takes the lease: create-only when absent, else `ifMatch` on the ETag we observed, always `epoch + 1`. */
async function acquire(ctx: FnContext, mem: LeaderMemory, current: ObservedLease | null, reason: string, ownDoc?: LeaseDoc): Promise<Output> {
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
        return result(ctx, 'lost_race', reason);
      }
      if (isBtcError(err, 'Unavailable')) return result(ctx, 'unreachable', ctx.masker.text(err.message));
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
  return result(ctx, 'acquired', reason);
}

/** Preferred leader back: ask the holder (ifMatch) to release on its next beat. */
async function requestHandover(ctx: FnContext, mem: LeaderMemory, current: ObservedLease, doc: LeaseDoc): Promise<Output> {
  try {
    const etag = await writeLease(ctx, { ...doc, handover_to: ctx.host }, { ifMatch: current.etag });
    mem.observed = { etag, firstSeenMono: ctx.clock.monotonicMs(), staleReported: false };
  } catch (err) {
    if (isBtcError(err, 'PreconditionFailed') || isBtcError(err, 'NotFound')) return result(ctx, 'following', 'handover request raced a renew; retry next beat');
    if (isBtcError(err, 'Unavailable')) return result(ctx, 'unreachable', ctx.masker.text(err.message));
    throw err;
  }
  await ctx.audit.record('collector.leader.handover_request', { host: doc.host, epoch: doc.epoch, to: ctx.host });
  return result(ctx, 'handover_requested', `asked ${doc.host} to hand over`);
}

// ── shared ────────────────────────────────────────────────────────────────────────────────────

function errorText(ctx: FnContext, err: unknown): string {
  return ctx.masker.text(err instanceof Error ? err.message : String(err));
}

export type BeatOutput = Output;

/** The state machine as runtime/leader/shards.ts drives it, once per shard (injected: no import cycle). */
export const MACHINE = { holderBeat, followerBeat, releaseLease } as const;
export type LeaseMachine = typeof MACHINE;

function result(ctx: FnContext, action: Action, detail?: string): Output {
  const v = ctx.lease;
  return { action, holder: v.holder, leader: v.leaderHost, epoch: v.epoch, degraded: v.degraded, ...(detail ? { detail } : {}) };
}
