// runtime/leader/holder.ts
// The holder's side of the collector lease state machine: renew, degrade, pause, resync, step down, hand over, release.

import type { FnContext } from '../define.ts';
import { LEASE_LOST_AT_SLOT } from '../diag-reasons.ts';
import {
  classifyRenewFailure,
  flushBeforeRelease,
  iso,
  isOwnLease,
  leaseTimings,
  observe,
  publishLeaderStatus,
  readLease,
  setLeaseView,
  writeLease,
  writeReleased,
  type LeaderMemory,
  type LeaseDoc,
  type ObservedLease,
} from '../lease.ts';
import { pause, pauseIfLapsed, resume, suspendedRange } from '../lease-pause.ts';
import { beatResult, errorText, type BeatOutput } from './outcome.ts';

// Every lease write here is an S3 conditional PutObject on the primary (runtime/lease.ts
// writeLease; AWS S3 User Guide, "How to prevent object overwrites with conditional writes"):
// `If-Match: <ETag>` succeeds only while the object still has that ETag, else 412
// PreconditionFailed; on a key that is gone AWS answers 404 NoSuchKey; a concurrent conditional
// write may get 409 ConditionalRequestConflict. The store maps 412 and 409 to `PreconditionFailed`
// and the 404 to `NotFound` (docs/storage.md); classifyRenewFailure files both as `conflict`.

/** Renews are audited at most this often, in ms (a heartbeat every few seconds would drown the trail). */
const RENEW_AUDIT_EVERY_MS = 60_000;

/**
 * One beat of a runtime that holds the lease (`mem.held` set): pause first when it slept or
 * stalled (runtime/lease-pause.ts), honour a handover request it adopted, else renew with
 * `If-Match: <our last ETag>` and a new `heartbeat_ms` (wall ms). A 412 / 409 / 404 is someone
 * else's write (renewRefused); another 4xx is a refusal by a primary that is up (renewDenied);
 * unreachable or timed out (`opTimeoutMs`, a third of the lease) keeps the lease, degraded.
 * Returns `renewed`, `resynced`, `degraded`, `paused`, `stepped_down` or `released`.
 * @throws only what the local audit log or the resume throws (a failing disk); store errors are
 * outcomes, never thrown.
 */
export async function holderBeat(ctx: FnContext, mem: LeaderMemory): Promise<BeatOutput> {
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
  return beatResult(ctx, 'renewed');
}

/**
 * The primary failed us while holding. Unreachable: keep collecting into the cache (nobody can take
 * the lease through a NAS that is down). Audited once per cause (`network` or the S3 code).
 */
async function degrade(ctx: FnContext, mem: LeaderMemory, why: string, cause: string): Promise<BeatOutput> {
  const held = mem.held!;
  if (held.degradedSinceWall === null || held.degradedCause !== cause) {
    held.degradedSinceWall ??= ctx.clock.now();
    held.degradedCause = cause;
    setLeaseView(ctx.lease, { degraded: true });
    ctx.log.warn({ epoch: held.doc.epoch, cause, err: why }, `lease renew failed (${cause}); keeping the lease, degraded`);
    await ctx.audit.record('collector.leader.degraded', { host: ctx.host, epoch: held.doc.epoch, reason: why, cause });
    publishLeaderStatus(ctx, mem, held.doc);
  }
  return beatResult(ctx, held.paused ? 'paused' : 'degraded', why);
}

/**
 * A renew refused by a primary that is up (4xx other than 412/404: AccessDenied, a skewed
 * signature, …). Unlike a cut-off, the others may well reach the lease, so read it now: another
 * host at a newer epoch means we lost it, and we step down at once instead of collecting on.
 */
async function renewDenied(ctx: FnContext, mem: LeaderMemory, why: string, cause: string): Promise<BeatOutput> {
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
async function renewRefused(ctx: FnContext, mem: LeaderMemory): Promise<BeatOutput> {
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
    return beatResult(ctx, 'resynced');
  }
  return stepDown(ctx, mem, current, 'PreconditionFailed');
}

/**
 * We lost the lease: stop collecting at once; audit the window in which two may have collected.
 * `cause` is what the renew got: `PreconditionFailed` (412) or the S3 code of a refusal.
 */
async function stepDown(ctx: FnContext, mem: LeaderMemory, current: ObservedLease | null, cause: string): Promise<BeatOutput> {
  const held = mem.held!;
  mem.held = null;
  // A lost lease turns this host DIAG for diag.leaseLostSeconds (runtime/diag-reasons.ts).
  ctx.local.set(LEASE_LOST_AT_SLOT, ctx.clock.now());
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
  return beatResult(ctx, 'stepped_down', reason);
}

/**
 * The preferred leader asked for the lease (`handover_to` names another host): stop collecting,
 * flush (ship raw and audit segments under our epoch), then write `released: true` with
 * `If-Match` on the ETag that carried the request. When that write fails the lease just goes
 * stale and the asker takes it after a lease.
 */
async function handOver(ctx: FnContext, mem: LeaderMemory, current: ObservedLease, doc: LeaseDoc): Promise<BeatOutput> {
  const held = mem.held!;
  mem.held = null;
  setLeaseView(ctx.lease, { holder: false, since: null, degraded: false, leaderHost: null });
  await flushBeforeRelease(ctx);
  const reason = `handover to ${doc.handover_to}`;
  const released = await writeReleased(ctx, mem, current, held.doc.epoch);
  await ctx.audit.record('collector.leader.release', { host: ctx.host, epoch: held.doc.epoch, reason: released ? reason : `${reason} (release not written; lease goes stale)` });
  publishLeaderStatus(ctx, mem, doc);
  return beatResult(ctx, 'released', reason);
}

/**
 * Gives the lease up on purpose (shutdown, an operator): never leaves it for others to wait out.
 * Stops collecting, flushes, writes `released: true` with `If-Match` on our ETag; on a 412 (our
 * own late renew or a handover request moved the ETag) reads once and retries on what is there
 * when it is still ours. `why` goes into the audit reason. Returns `released`, `stepped_down`
 * (the release could not be written: the lease goes stale) or `none` (not the holder).
 * @throws only what the local audit log throws; store errors are outcomes.
 */
export async function releaseLease(ctx: FnContext, mem: LeaderMemory, why: string): Promise<BeatOutput> {
  const held = mem.held;
  if (!held) return beatResult(ctx, 'none', 'not the holder');
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
  return beatResult(ctx, released ? 'released' : 'stepped_down', why);
}
