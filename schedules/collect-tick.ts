// schedules/collect-tick.ts
// Collect every collector.tickSeconds (5 s by default); the function itself skips unless this host holds the lease.

import { holdsAnyShard } from '../runtime/leader/shard-state.ts';
import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'collect-tick',
  everySeconds: (config) => config.collector.tickSeconds,
  // collector.shards > 1: any shard held (runtime/leader/shard-state.ts).
  when: (ctx) => (ctx.lease.holder || holdsAnyShard(ctx.local, true)) && ctx.mode.get() !== 'DEBUG' && ctx.config.collector.streams.length > 0,
});
