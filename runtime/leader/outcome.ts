// runtime/leader/outcome.ts
// What one beat of the collector lease answers (the leader-heartbeat duty's output): the action taken and the lease as this runtime now sees it.

import type { FnContext } from '../define.ts';

/**
 * Every action a beat can report. Holder side (runtime/leader/holder.ts): `renewed`, `resynced`
 * (a renew that timed out had landed), `degraded` (primary unreachable or refusing; still holding),
 * `paused` (holding on paper, not collecting), `stepped_down`, `released`. Follower side
 * (runtime/leader/follower.ts): `acquired`, `following`, `handover_requested`, `lost_race`,
 * `unreachable`. `none`: a release asked of a runtime that holds nothing.
 */
export const BEAT_ACTIONS = [
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
export type BeatAction = (typeof BEAT_ACTIONS)[number];

/**
 * `{ action, holder, leader, epoch, degraded, detail? }`: the action, then `ctx.lease` after it
 * (holder = this runtime collects; leader = the holder's host or null; epoch = the fencing token
 * last seen). `detail` is a short reason, masked (runtime/secrets.ts).
 */
export interface BeatOutput {
  action: BeatAction;
  holder: boolean;
  leader: string | null;
  epoch: number;
  degraded: boolean;
  detail?: string;
}

/** The beat's answer: `action` and `detail` with the LeaseView as it stands now. */
export function beatResult(ctx: FnContext, action: BeatAction, detail?: string): BeatOutput {
  const v = ctx.lease;
  return { action, holder: v.holder, leader: v.leaderHost, epoch: v.epoch, degraded: v.degraded, ...(detail ? { detail } : {}) };
}

/** An error's message with secrets masked, for logs, audit reasons and `detail`. */
export function errorText(ctx: FnContext, err: unknown): string {
  return ctx.masker.text(err instanceof Error ? err.message : String(err));
}
