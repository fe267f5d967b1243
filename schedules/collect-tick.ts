// schedules/collect-tick.ts
// Collect every collector.tickSeconds (5 s by default); the function itself skips unless this host holds the lease.

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'collect-tick',
  everySeconds: (config) => config.collector.tickSeconds,
  when: (ctx) => ctx.lease.holder && ctx.mode.get() !== 'DEBUG' && ctx.config.collector.streams.length > 0,
});
