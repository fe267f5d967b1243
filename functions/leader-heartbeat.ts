// functions/leader-heartbeat.ts
// The collector lease: acquire, renew, step down, take over a stale lease, hand over to the preferred leader, release.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { leaderBeat, leaderShutdown } from '../runtime/leader/heartbeat.ts';
import { BEAT_ACTIONS } from '../runtime/leader/outcome.ts';

// The state machine lives in runtime/leader/ (heartbeat.ts → holder.ts, follower.ts, shards.ts;
// the lease object and its conditional writes in runtime/lease.ts); this duty is its entry point.

const output = z.object({
  action: z.enum(BEAT_ACTIONS),
  holder: z.boolean(),
  leader: z.string().nullable(),
  epoch: z.number(),
  degraded: z.boolean(),
  detail: z.string().optional(),
});

export default defineFunction({
  name: 'leader-heartbeat',
  description:
    'One beat of the collector lease (locks/collector.leader on the primary): renew when holding, else watch it and take it when absent, released or stale by this host\'s own monotonic clock. `{"action":"release"}` gives it up.',
  input: z.object({ action: z.enum(['heartbeat', 'release']).default('heartbeat') }).strict(),
  output,
  async run(input, ctx) {
    // collector.shards > 1: one lease per shard, each beaten by this same state machine (runtime/leader/shards.ts).
    return leaderBeat(ctx, input.action);
  },
  /** Graceful shutdown (SIGTERM): give the lease up so the standby takes it at its next beat, not after a lease. */
  async onShutdown(ctx) {
    await leaderShutdown(ctx);
  },
});
