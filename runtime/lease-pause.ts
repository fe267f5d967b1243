// runtime/lease-pause.ts
// A holder that slept or stalled stops collecting until a renew proves the lease is still its own: wall vs monotonic jump checks, pause, resume.

import type { FnContext } from './define.ts';
import { iso, leaseTimings, publishLeaderStatus, setLeaseView, type LeaderMemory, type PausedHolder } from './lease.ts';

/**
 * How far the wall clock ran ahead of the monotonic one since the previous beat (ms). The
 * monotonic clock stops while a PC is suspended, so after an hour asleep this is about an hour;
 * an NTP step shows up here too, as a small number (negative when the clock was set back).
 */
export function wallJumpMs(ctx: FnContext, since: { lastBeatWall: number; lastBeatMono: number }): number {
  return ctx.clock.now() - since.lastBeatWall - (ctx.clock.monotonicMs() - since.lastBeatMono);
}

/**
 * Wall vs monotonic since the previous beat. The monotonic clock stops while the PC is suspended,
 * so a wall jump of more than a lease means we slept and the other PC may hold the lease by now;
 * a lease gone by on the monotonic clock without a renew (and without a known cut-off) means the
 * process stalled. Either way: stop collecting until a renew succeeds. A degraded holder's lease
 * lapses by design (nobody can take it through a NAS that is down), so only a jump pauses it.
 */
export function pauseIfLapsed(ctx: FnContext, mem: LeaderMemory): void {
  const held = mem.held!;
  const { leaseMs } = leaseTimings(ctx);
  const jumpMs = wallJumpMs(ctx, held);
  const previousBeatWall = held.lastBeatWall;
  held.lastBeatWall = ctx.clock.now();
  held.lastBeatMono = ctx.clock.monotonicMs();
  if (jumpMs > leaseMs) {
    // A second sleep before the lease is settled widens the range we name.
    const fromWall = held.paused?.suspended?.fromWall ?? previousBeatWall;
    pause(ctx, mem, 'suspended', { fromWall, toWall: held.lastBeatWall });
  } else if (!held.paused && held.degradedSinceWall === null && held.lastBeatMono - held.lastWriteOkMono >= leaseMs) {
    pause(ctx, mem, 'lapsed', null);
  }
}

/** Stops collecting (the view every duty checks) while keeping the lease on paper; never awaits. */
export function pause(ctx: FnContext, mem: LeaderMemory, reason: PausedHolder['reason'], suspended: PausedHolder['suspended']): void {
  const held = mem.held!;
  held.paused = { reason, sinceWall: held.paused?.sinceWall ?? ctx.clock.now(), suspended };
  setLeaseView(ctx.lease, { holder: false });
  ctx.log.warn(
    { epoch: held.doc.epoch, reason, suspended_from: iso(suspended?.fromWall ?? null), suspended_to: iso(suspended?.toWall ?? null) },
    'collection paused: the lease may have been taken; renewing before collecting again',
  );
  publishLeaderStatus(ctx, mem, held.doc);
}

/** A renew (or a read) proved the lease is still ours: collect again. */
export async function resume(ctx: FnContext, mem: LeaderMemory): Promise<void> {
  const held = mem.held!;
  const paused = held.paused!;
  held.paused = null;
  setLeaseView(ctx.lease, { holder: true });
  await ctx.audit.record('collector.leader.resumed', {
    host: ctx.host,
    epoch: held.doc.epoch,
    reason: paused.reason,
    paused_since: iso(paused.sinceWall),
    ...suspendedRange(paused),
  });
  publishLeaderStatus(ctx, mem, held.doc);
}

/** `suspended_from` / `suspended_to` (ISO wall times) when the pause came from a suspend, else nothing. */
export function suspendedRange(paused: PausedHolder): { suspended_from?: string | null; suspended_to?: string | null } {
  return paused.suspended ? { suspended_from: iso(paused.suspended.fromWall), suspended_to: iso(paused.suspended.toWall) } : {};
}
