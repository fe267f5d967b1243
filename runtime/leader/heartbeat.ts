// runtime/leader/heartbeat.ts
// One beat of the collector lease, as the leader-heartbeat duty runs it: the one lease (holder or follower side), or one lease per shard.

import type { FnContext } from '../define.ts';
import { leaderMemory } from '../lease.ts';
import { followerBeat } from './follower.ts';
import { holderBeat, releaseLease } from './holder.ts';
import type { BeatOutput } from './outcome.ts';
import { shardCount } from './shard-map.ts';
import { shardedBeat } from './shards.ts';

/**
 * One beat (`heartbeat`) or a release on request (`release`). With `collector.shards` > 1 every
 * shard lease is beaten by the same holder / follower machine (runtime/leader/shards.ts, whose
 * answer describes shard 0); else the one lease `locks/collector.leader`: the holder renews, a
 * follower watches and takes it (runtime/leader/holder.ts, runtime/leader/follower.ts). The
 * memory between beats lives in `ctx.local` (runtime/lease.ts leaderMemory), so one runtime's
 * beats must never run concurrently (the invoker runs one call per duty name at a time).
 * @throws what followerBeat throws (a store error other than a lost race or unreachable).
 */
export async function leaderBeat(ctx: FnContext, action: 'heartbeat' | 'release'): Promise<BeatOutput> {
  if (shardCount(ctx.config) > 1) return shardedBeat(ctx, action);
  const mem = leaderMemory(ctx);
  if (action === 'release') return releaseLease(ctx, mem, 'requested');
  return mem.held ? holderBeat(ctx, mem) : followerBeat(ctx, mem);
}

/** Graceful shutdown (SIGTERM): give the lease (every held shard lease) up so the standby takes it at its next beat, not after a lease. */
export async function leaderShutdown(ctx: FnContext): Promise<void> {
  if (shardCount(ctx.config) > 1) return void (await shardedBeat(ctx, 'release'));
  const mem = leaderMemory(ctx);
  if (mem.held) await releaseLease(ctx, mem, 'shutdown');
}
